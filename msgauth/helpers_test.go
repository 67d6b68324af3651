package msgauth_test

import "petrel/msgauth"

func msgauthInput(ipAddr, helo, from string, msg []byte) msgauth.Input {
	return msgauth.Input{RemoteIP: ip(ipAddr), Helo: helo, MailFrom: from, Message: msg}
}
