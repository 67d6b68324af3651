// Package mailgen generates realistic mail for the IMAP benchmarks (bench/run.sh's
// scenarios, cmd/petrel's BenchmarkScaleOutIMAP): the same messages, byte
// for byte, from a seed, for Petrel and Dovecot alike.
//
// Mix (by default): 55 % text/plain (0.5–8 KiB, some quoted-printable with
// accents), 25 % multipart/alternative (text and HTML, 2–30 KiB), 10 %
// multipart/mixed with one attachment of 50–500 KiB (base64), 10 %
// multipart/mixed with one to three small attachments (2–40 KiB). Headers as
// a delivered message has them: Return-Path, Delivered-To, two or three
// Received, DKIM-Signature, Authentication-Results, Date, From, To, often
// Cc, Subject (some RFC 2047-encoded, some Re:/Fwd: with In-Reply-To and
// References), Message-ID, MIME-Version, some List-Id/List-Unsubscribe,
// User-Agent or X-Mailer. Lines end in LF, as Dovecot itself writes a
// Maildir.
package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The words the IMAP scenarios search for, and who they search by.
const (
	SearchBodyWord    = "kumquat" // in the text (and HTML) of about 1 % of the messages
	SearchSubjectWord = "invoice" // in about 3 % of the subjects
	SearchFromName    = "Okonkwo" // one frequent sender's surname
	LargeShareDefault = 0.10      // share of messages with a 50–500 KiB attachment
	mailDomain        = "bench.test"
)

var vocab = strings.Fields(`the of and to in is that it for was on are as with his they at be this from have or by
one had not but what all were when we there can an your which their said if do will each about how up out them
then she many some so these would other into has more her two like him see time could no make than first been its
who now people my made over did down only way find use may water long little very after words called just where
most know get through back much before go good new write our used me man too any day same right look think also
around another came come work three word must because does part even place well such here take why things help put
years different away again off went old number great tell men say small every found still between name should home
big give air line set own under read last never us left end along while might next sound below saw something thought
both few those always looked show large often together asked house world going want school important until form food
keep children feet land side without boy once animals life enough took sometimes four head above kind began almost
live page got earth need far hand high year mother light parts country father let night following picture being study
second eyes soon times story boys since white days ever paper hard near sentence better best across during today others
however sure means knew its try told young miles sun ways thing whole hear example heard several change answer room sea
against top turned learn point city play toward five using himself usually meeting project budget report schedule draft
review team quarter release server client contract proposal agenda notes update deadline estimate design feedback
customer support ticket account order shipment delivery payment figures planning workshop travel conference slides`)

var firstNames = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark
Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy
George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen
Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen
Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack
Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas
Victoria Zachary Kelly Peter Lauren Kyle Christina Noah Joan Ethan Evelyn Jeremy Judith Walter Megan Christian Andrea
Keith Cheryl Roger Hannah Terry Jacqueline Austin Martha Sean Gloria Gerald Teresa Carl Ann Harold Sara Dylan Madison
Arthur Frances Lawrence Kathryn Jordan Janice Jesse Jean Bryan Abigail Billy Alice Bruce Judy Gabriel Sophia Joe Grace
Logan Denise Alan Amber Juan Doris Albert Marilyn Willie Danielle Elijah Beverly Wayne Isabella Randy Theresa Vincent
Diana Mason Natalie Roy Brittany Ralph Charlotte Bobby Marie Russell Kayla Bradley Alexis Philip Lori`)

var lastNames = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell
Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook
Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez
Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell
Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan
Patterson Alexander Hamilton Graham Reynolds Griffin Wallace West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry
Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon
Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza
Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez
Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado
Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval`)

var domains = strings.Fields(`example.com example.net example.org mail.example.com corp.example.net lists.example.org
university.example.edu shop.example.com news.example.net partner.example.co.uk`)

var accented = []string{"café", "résumé", "naïve", "Zürich", "Málaga", "São Paulo", "déjà vu", "façade", "Crème brûlée", "Øresund"}

type person struct{ name, addr string }

type Gen struct {
	r                        *rand.Rand
	people                   []person
	largeShare               float64
	base                     time.Time
	n                        int
	bodyHits, subjHits, from int // expected SEARCH counts
	msgIDs                   []string
	subjects                 []string
}

func New(seed uint64, n int, largeShare float64) *Gen {
	g := &Gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), largeShare: largeShare, n: n}
	// 300 correspondents; person 7 carries SearchFromName.
	for i := 0; i < 300; i++ {
		f := firstNames[g.r.IntN(len(firstNames))]
		l := lastNames[g.r.IntN(len(lastNames))]
		if i == 7 {
			l = SearchFromName
		}
		d := domains[g.r.IntN(len(domains))]
		g.people = append(g.people, person{f + " " + l, fmt.Sprintf("%s.%s@%s", strings.ToLower(f), strings.ToLower(l), d)})
	}
	g.base = time.Date(2024, 1, 2, 8, 0, 0, 0, time.UTC)
	return g
}

// sender picks a correspondent, the first ones more often (Zipf-like).
func (g *Gen) sender() person {
	i := int(float64(len(g.people)) * g.r.Float64() * g.r.Float64() * g.r.Float64())
	return g.people[i]
}

func (g *Gen) words(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[g.r.IntN(len(vocab))])
	}
	return b.String()
}

// text is about size bytes of paragraphs, lines of at most 60 characters
// (so that quoted-printable never needs soft line breaks), with word in it
// if not "".
func (g *Gen) text(size int, word string, accents bool) string {
	var b strings.Builder
	b.WriteString("Hello " + firstNames[g.r.IntN(len(firstNames))] + ",\n\n")
	wordAt := -1
	if word != "" {
		wordAt = g.r.IntN(max(size/2, 1))
	}
	line := 0
	for b.Len() < size {
		w := vocab[g.r.IntN(len(vocab))]
		if wordAt >= 0 && b.Len() >= wordAt {
			w, wordAt = word, -1
		} else if accents && g.r.IntN(40) == 0 {
			w = accented[g.r.IntN(len(accented))]
		}
		if line+len(w)+1 > 60 {
			b.WriteByte('\n')
			line = 0
			if g.r.IntN(8) == 0 {
				b.WriteByte('\n')
			}
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	if wordAt >= 0 {
		b.WriteString(" " + word)
	}
	b.WriteString("\n\n-- \n" + g.people[g.r.IntN(len(g.people))].name + "\n")
	return b.String()
}

func (g *Gen) html(text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>p { font-family: Arial, sans-serif; }</style></head>\n<body>\n")
	for _, para := range strings.Split(text, "\n\n") {
		b.WriteString("<p>" + strings.ReplaceAll(para, "\n", "<br>\n") + "</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
	w.Close()
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

var attachmentKinds = []struct{ ext, ctype string }{
	{"pdf", "application/pdf"}, {"jpg", "image/jpeg"}, {"png", "image/png"}, {"zip", "application/zip"},
	{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
	{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
}

func (g *Gen) attachment(size int, boundary string) string {
	k := attachmentKinds[g.r.IntN(len(attachmentKinds))]
	name := strings.ReplaceAll(g.words(2), " ", "-") + "." + k.ext
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(g.r.Uint32())
	}
	return fmt.Sprintf("--%s\nContent-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n%s",
		boundary, k.ctype, name, name, b64(data))
}

func (g *Gen) textPart(text string, accents bool) (ctype, cte, body string) {
	if accents {
		return "text/plain; charset=utf-8", "quoted-printable", qp(text)
	}
	return "text/plain; charset=us-ascii; format=flowed", "7bit", text
}

func encodedWord(s string) string {
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// message returns message i (i = 0, 1, … in order) and its date.
func (g *Gen) Message(i int) ([]byte, time.Time) {
	r := g.r
	date := g.base.Add(time.Duration(i)*(2*365*24*time.Hour)/time.Duration(max(g.n, 1)) + time.Duration(r.IntN(3600))*time.Second)
	from := g.sender()
	if from.name[strings.LastIndexByte(from.name, ' ')+1:] == SearchFromName {
		g.from++
	}
	to := []person{{"Alice Bench", "alice@" + mailDomain}}
	for k := r.IntN(3); k > 0; k-- {
		to = append(to, g.people[r.IntN(len(g.people))])
	}
	msgID := fmt.Sprintf("<%d.%x.%d@%s>", date.Unix(), r.Uint64(), i, from.addr[strings.IndexByte(from.addr, '@')+1:])
	g.msgIDs = append(g.msgIDs, msgID)
	accents := r.IntN(5) == 0

	// Subject: new, reply or forward; some encoded.
	subj := g.words(3 + r.IntN(6))
	subj = strings.ToUpper(subj[:1]) + subj[1:]
	if r.IntN(100) < 3 {
		subj = "Your " + SearchSubjectWord + " " + fmt.Sprint(10000+r.IntN(90000)) + " for " + g.words(2)
	}
	var replyTo string
	switch k := r.IntN(100); {
	case k < 25 && len(g.subjects) > 0:
		j := r.IntN(len(g.subjects))
		replyTo = g.msgIDs[j]
		subj = "Re: " + strings.TrimPrefix(g.subjects[j], "Re: ")
	case k < 30:
		subj = "Fwd: " + subj
	}
	g.subjects = append(g.subjects, subj)
	if strings.Contains(strings.ToLower(subj), SearchSubjectWord) {
		g.subjHits++
	}
	subjHeader := subj
	if accents && replyTo == "" {
		subjHeader = encodedWord(subj + " — " + accented[r.IntN(len(accented))])
	}

	var h strings.Builder
	fmt.Fprintf(&h, "Return-Path: <%s>\nDelivered-To: alice@%s\n", from.addr, mailDomain)
	hops := 2 + r.IntN(2)
	for k := 0; k < hops; k++ {
		t := date.Add(time.Duration(hops-k) * time.Second)
		fmt.Fprintf(&h, "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mx.%s (Postfix) with ESMTPS id %X\n\tfor <alice@%s>; %s\n",
			k+1, domains[r.IntN(len(domains))], k+1, domains[r.IntN(len(domains))], 1+r.IntN(250), mailDomain, r.Uint32(), mailDomain, t.Format(time.RFC1123Z))
	}
	sig := make([]byte, 192)
	for k := range sig {
		sig[k] = byte(r.Uint32())
	}
	fmt.Fprintf(&h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel1;\n\th=from:to:subject:date:message-id; bh=%s;\n\tb=%s\n",
		from.addr[strings.IndexByte(from.addr, '@')+1:], base64.StdEncoding.EncodeToString(sig[:32]), base64.StdEncoding.EncodeToString(sig[32:]))
	fmt.Fprintf(&h, "Authentication-Results: mx.%s; spf=pass smtp.mailfrom=%s; dkim=pass header.d=%s\n", mailDomain, from.addr, from.addr[strings.IndexByte(from.addr, '@')+1:])
	fmt.Fprintf(&h, "Date: %s\nFrom: \"%s\" <%s>\n", date.Format(time.RFC1123Z), from.name, from.addr)
	var tos []string
	for _, p := range to {
		tos = append(tos, fmt.Sprintf("%s <%s>", p.name, p.addr))
	}
	fmt.Fprintf(&h, "To: %s\n", strings.Join(tos, ",\n\t"))
	if r.IntN(10) < 3 {
		p := g.people[r.IntN(len(g.people))]
		fmt.Fprintf(&h, "Cc: %s <%s>\n", p.name, p.addr)
	}
	fmt.Fprintf(&h, "Subject: %s\nMessage-ID: %s\n", subjHeader, msgID)
	if replyTo != "" {
		fmt.Fprintf(&h, "In-Reply-To: %s\nReferences: %s\n", replyTo, replyTo)
	}
	if r.IntN(5) == 0 {
		l := g.words(1)
		fmt.Fprintf(&h, "List-Id: <%s.lists.example.org>\nList-Unsubscribe: <mailto:%s-unsubscribe@lists.example.org>, <https://lists.example.org/u/%x>\n", l, l, r.Uint64())
	}
	if r.IntN(2) == 0 {
		h.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0\n")
	} else {
		h.WriteString("X-Mailer: Apple Mail (2.3731.700.6)\n")
	}
	h.WriteString("MIME-Version: 1.0\n")

	word := ""
	if r.IntN(100) == 0 {
		word = SearchBodyWord
		g.bodyHits++
	}
	boundary := fmt.Sprintf("----=_Part_%d_%x", i, r.Uint32())
	var body strings.Builder
	switch k := r.Float64(); {
	case k < 0.55:
		ct, cte, t := g.textPart(g.text(512+r.IntN(7*1024+512), word, accents), accents)
		fmt.Fprintf(&h, "Content-Type: %s\nContent-Transfer-Encoding: %s\n", ct, cte)
		body.WriteString(t)
	case k < 0.80:
		ah, ab := g.alternative(boundary, 2048+r.IntN(28*1024), word, accents)
		h.WriteString(ah)
		body.WriteString("This is a multi-part message in MIME format.\n" + ab)
	default:
		large := k < 0.80+g.largeShare
		fmt.Fprintf(&h, "Content-Type: multipart/mixed; boundary=\"%s\"\n", boundary)
		body.WriteString("This is a multi-part message in MIME format.\n")
		if r.IntN(2) == 0 {
			ct, cte, t := g.textPart(g.text(300+r.IntN(3000), word, accents), accents)
			fmt.Fprintf(&body, "--%s\nContent-Type: %s\nContent-Transfer-Encoding: %s\n\n%s", boundary, ct, cte, t)
		} else {
			ah, ab := g.alternative(boundary+"_alt", 300+r.IntN(6000), word, accents)
			fmt.Fprintf(&body, "--%s\n%s\n%s", boundary, ah, ab)
		}
		if large {
			body.WriteString(g.attachment(50*1024+r.IntN(450*1024), boundary))
		} else {
			for k := 1 + r.IntN(3); k > 0; k-- {
				body.WriteString(g.attachment(2*1024+r.IntN(38*1024), boundary))
			}
		}
		fmt.Fprintf(&body, "--%s--\n", boundary)
	}
	return []byte(h.String() + "\n" + body.String()), date
}

// alternative returns the header (Content-Type) and body of a
// multipart/alternative of a text and an HTML part.
func (g *Gen) alternative(boundary string, size int, word string, accents bool) (string, string) {
	t := g.text(size/2, word, accents)
	var body strings.Builder
	ct, cte, tb := g.textPart(t, accents)
	fmt.Fprintf(&body, "--%s\nContent-Type: %s\nContent-Transfer-Encoding: %s\n\n%s", boundary, ct, cte, tb)
	fmt.Fprintf(&body, "--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s", boundary, qp(g.html(t)))
	fmt.Fprintf(&body, "--%s--\n", boundary)
	return fmt.Sprintf("Content-Type: multipart/alternative; boundary=\"%s\"\n", boundary), body.String()
}

// A Maildir is a Maildir written by WriteMaildir, with what the
// searches over it should find.
type Maildir struct {
	Dir                      string
	Names                    []string // file names in cur/, in UID order
	Bytes                    int64    // on disk (LF)
	BodyHits, SubjHits, From int      // what SEARCH BODY, SUBJECT and FROM should find
}

// WriteMaildir writes n generated messages into dir/cur (LF line ends,
// flags in the name: most seen, some answered or flagged, Dovecot's S= and
// W= sizes), each file's mtime its arrival date, and a dovecot-uidlist
// giving them UIDs 1…n in order (which `petrel import maildir` keeps).
func WriteMaildir(dir string, seed uint64, n int, largeShare float64) (*Maildir, error) {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	g := New(seed, n, largeShare)
	md := &Maildir{Dir: dir}
	var uidlist strings.Builder
	fmt.Fprintf(&uidlist, "3 V%d N%d\n", 1700000000+seed, n+1)
	for i := 0; i < n; i++ {
		msg, date := g.Message(i)
		vsize := len(msg) + bytes.Count(msg, []byte("\n"))
		flags := ""
		switch k := g.r.IntN(100); {
		case k < 8:
			flags = "RS"
		case k < 12:
			flags = "FS"
		case k < 85:
			flags = "S"
		}
		base := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d", date.Unix(), i, 1000+int(seed), len(msg), vsize)
		name := base + ":2," + flags
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, msg, 0o644); err != nil {
			return nil, err
		}
		os.Chtimes(p, date, date)
		md.Names = append(md.Names, name)
		md.Bytes += int64(len(msg))
		fmt.Fprintf(&uidlist, "%d :%s\n", i+1, base)
	}
	md.BodyHits, md.SubjHits, md.From = g.bodyHits, g.subjHits, g.from
	return md, os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(uidlist.String()), 0o644)
}
