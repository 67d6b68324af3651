package imap

// WaitReadSize is waitReadSize for the package's external tests
// (TestWaitInput checks that the waiting read took the first octets).
const WaitReadSize = waitReadSize
