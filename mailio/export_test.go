package mailio

// Hooks for the fuzz tests of the unexported parsers.

// FlagsOf returns the flags an mbox import takes from msg's header.
func FlagsOf(msg []byte) []string {
	h := headerFields(msg, "status", "x-status", "x-keywords", "x-gmail-labels")
	p := gmailLabels(firstOr(h["x-gmail-labels"]))
	return append(mboxFlags(h), p.flags...)
}

func firstOr(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// FlagsOfMaildir returns the flags of a Maildir file name.
func FlagsOfMaildir(name string, keywords []byte) []string {
	_, letters := splitInfo(name)
	return flagsFromInfo(letters, parseKeywords(keywords))
}

var (
	ParseUIDList   = parseUIDList
	EscapeFolder   = escapeFolder
	UnescapeFolder = unescapeFolder
	FolderName     = folderName
)
