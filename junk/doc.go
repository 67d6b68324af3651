// Package junk owns Petrel's built-in junk classifier: a statistical token
// classifier per account that learns from what its user does (moving mail
// into or out of Junk, $Junk and $NotJunk, writing to someone).
//
// It has three parts:
//
//   - the tokenizer (tokenize.go, html.go): a message's header and body
//     turned into a set of tokens: decoded MIME text, HTML reduced to its
//     text and the hosts of its links, selected header fields by name. It
//     never reads the fields that give a label away (X-Spam-*, our own
//     X-Petrel-Junk), so a filter's old verdict is never learnt;
//   - the combining (classify.go): Robinson's per-token probabilities and
//     Fisher's chi-square combining, as SpamAssassin's Bayes and bogofilter
//     use them;
//   - the classifier (filter.go): the verdict for one delivery, from the
//     account's model (or the server's shared model while the account has
//     not learnt enough), its counters and its log line.
//
// The model itself lives in the store (store/junk.go): the move or flag
// change that teaches it records the training in its own commit, and the
// store's junk worker applies recorded trainings to the model in batches
// (store/junkqueue.go), each record deleted in the transaction that
// applies it, so a verdict the user gave is never lost nor counted twice,
// and the user's move does not wait for the model. Verdicts read the
// model as applied: a training reaches them once the worker has run,
// usually within milliseconds of the move. This package holds no model
// state of its own.
//
// Invariants: a message is tokenized from at most MaxTextBytes of text and
// yields at most MaxTokens distinct tokens, whatever its size or shape; an
// account without MinTrained spam and ham messages gets no verdict.
package junk
