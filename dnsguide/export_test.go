package dnsguide

// ReverseIP exposes reverseIP to the fuzz test.
var ReverseIP = reverseIP
