// Package inflate decodes a raw DEFLATE stream (RFC 1951) as it arrives on
// a connection, for protocols that compress a conversation (IMAP COMPRESS,
// RFC 4978).
//
// Its one promise beyond decoding correctly: a Read never waits for input
// while it holds decoded octets the caller has not had. Every block's data
// is returned when the block ends, and inside a block what is decoded is
// returned before a read that could block. A peer that flushes its
// deflater in any way zlib offers (Z_SYNC_FLUSH, Z_PARTIAL_FLUSH, Z_BLOCK,
// Z_FULL_FLUSH) therefore gets an answer to what it sent. Go's
// compress/flate returns data only at a sync flush's empty stored block (or
// when its window fills): after zlib's Z_PARTIAL_FLUSH, which ends a block
// with no stored block after it, it reads on into the next block's header
// and waits there for a command the peer will not send before it has the
// reply. klauspost/compress's partial-block mode reads 10 bits past a
// block's end, which Z_PARTIAL_FLUSH does not always send.
//
// Huffman symbols are decoded with as few input bits as they need (a
// 9-bit table, then the canonical code walked bit by bit), so the decoder
// never asks for input beyond the symbol it decodes.
//
// Memory: the window, two code tables (about 3 KiB) and the input buffer.
// The window grows with the output, doubling from 512 octets to its 32
// KiB once that much has been decoded: a conversation idle after a few
// commands (an IMAP client in IDLE) holds a few hundred octets of it, not
// 32 KiB. Nothing else is allocated after New.
package inflate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

const (
	winSize = 1 << 15 // the largest distance DEFLATE refers back
	winMask = winSize - 1

	maxBits    = 15  // the longest Huffman code
	tableBits  = 9   // codes up to this long are looked up at once
	maxLitSyms = 286 // HLIT's largest count (RFC 1951 3.2.7)
	maxDstSyms = 30
)

// ErrCorrupt is wrapped by every error about the stream's content.
var ErrCorrupt = errors.New("inflate: corrupt DEFLATE stream")

type state uint8

const (
	stateHeader  state = iota // before a block's header
	stateStored               // inside a stored block
	stateHuffman              // inside a Huffman-coded block
	stateDone                 // after the final block
)

// Reader decodes raw DEFLATE read from an io.Reader.
type Reader struct {
	src  *bufio.Reader
	bits uint64 // input bits not yet used, the next one lowest; zero above nb
	nb   uint
	read int64 // input octets taken, for error messages

	// win is the window: while shorter than winSize (reserve), the octets
	// decoded so far, from win[0]; then a ring of winSize octets, its own
	// allocation (exactly 8 pages).
	win        []byte
	wpos, rpos uint64 // octets decoded, octets returned
	limit      uint64 // wpos may reach it before win must grow

	state    state
	final    bool // the current block is the last
	stored   int  // octets left in a stored block
	copyLen  int  // octets left of a match
	copyDist int

	lit, dist      *huffman // the current block's codes
	dynLit, dynDst huffman
	lens           [maxLitSyms + maxDstSyms]uint8
	err            error
}

// New reads raw DEFLATE from r through an input buffer of bufSize octets
// (at least 16).
func New(r io.Reader, bufSize int) *Reader {
	return &Reader{src: bufio.NewReaderSize(r, bufSize)}
}

// minWin is the window's first size.
const minWin = 512

// reserve makes room in the window for n more octets after wpos. The
// window never wraps before it has its full size, so a position's index
// (wpos & winMask) is the same in a shorter one.
func (d *Reader) reserve(n int) {
	if d.wpos+uint64(n) > d.limit {
		d.grow(d.wpos + uint64(n))
	}
}

// growOne makes room for one more octet; not inlined, so that put is.
//
//go:noinline
func (d *Reader) growOne() { d.grow(d.wpos + 1) }

// grow makes the window at least need octets long (at most winSize).
func (d *Reader) grow(need uint64) {
	size := max(2*len(d.win), minWin)
	for uint64(size) < need && size < winSize {
		size *= 2
	}
	size = min(size, winSize)
	win := make([]byte, size)
	copy(win, d.win[:d.wpos])
	d.win = win
	d.limit = uint64(size)
	if size == winSize {
		d.limit = ^uint64(0)
	}
}

// Read returns decoded octets: what is decoded as soon as a block ends,
// the window fills, or going on would mean waiting for input. io.EOF comes
// after the final block's data.
func (d *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if d.rpos < d.wpos {
			return d.out(p), nil
		}
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.step()
	}
}

// out copies decoded octets to p.
func (d *Reader) out(p []byte) int {
	start := int(d.rpos & winMask)
	n := min(int(d.wpos-d.rpos), winSize-start, len(p))
	copy(p, d.win[start:start+n])
	d.rpos += uint64(n)
	return n
}

// pending: there are decoded octets the caller has not had.
func (d *Reader) pending() bool { return d.wpos > d.rpos }

// full: the window holds nothing but octets the caller has not had.
func (d *Reader) full() bool { return d.wpos-d.rpos == winSize }

// wouldWait: the next input octet is not here yet, so reading it may wait.
func (d *Reader) wouldWait() bool { return d.src.Buffered() == 0 }

func (d *Reader) corrupt(format string, a ...any) error {
	return fmt.Errorf("%w at input octet %d: %s", ErrCorrupt, d.read, fmt.Sprintf(format, a...))
}

// more reads one input octet into the bit buffer.
func (d *Reader) more() error {
	c, err := d.src.ReadByte()
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	d.read++
	d.bits |= uint64(c) << d.nb
	d.nb += 8
	return nil
}

// getBits takes n (≤ 32) bits.
func (d *Reader) getBits(n uint) (int, error) {
	for d.nb < n {
		if err := d.more(); err != nil {
			return 0, err
		}
	}
	v := int(d.bits & (1<<n - 1))
	d.bits >>= n
	d.nb -= n
	return v, nil
}

// step decodes until there is something to return, the stream ends (EOF)
// or fails. A nil result with nothing decoded never happens: every path
// either decodes or reads.
func (d *Reader) step() error {
	for {
		switch d.state {
		case stateDone:
			return io.EOF
		case stateHeader:
			if d.final {
				d.state = stateDone
				continue
			}
			if err := d.header(); err != nil {
				return err
			}
		case stateStored:
			if err := d.storedData(); err != nil || d.pending() {
				return err
			}
		case stateHuffman:
			if err := d.huffmanData(); err != nil || d.pending() {
				return err
			}
		}
	}
}

// header reads a block's header (and a dynamic block's code tables).
func (d *Reader) header() error {
	h, err := d.getBits(3)
	if err != nil {
		return err
	}
	d.final = h&1 == 1
	switch h >> 1 {
	case 0:
		d.bits >>= d.nb & 7 // to the octet boundary
		d.nb -= d.nb & 7
		n, err := d.getBits(16)
		if err != nil {
			return err
		}
		nn, err := d.getBits(16)
		if err != nil {
			return err
		}
		if n != ^nn&0xffff {
			return d.corrupt("stored block length %#x does not match its complement %#x", n, nn)
		}
		d.stored, d.state = n, stateStored
	case 1:
		d.lit, d.dist, d.state = &fixedLit, &fixedDist, stateHuffman
	case 2:
		if err := d.dynamicTables(); err != nil {
			return err
		}
		d.lit, d.dist, d.state = &d.dynLit, &d.dynDst, stateHuffman
	default:
		return d.corrupt("reserved block type 3")
	}
	return nil
}

// clOrder is the order of the code length code's lengths (RFC 1951 3.2.7).
var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (d *Reader) dynamicTables() error {
	v, err := d.getBits(14)
	if err != nil {
		return err
	}
	nlit, ndist, nclen := v&31+257, (v>>5)&31+1, v>>10+4
	if nlit > maxLitSyms || ndist > maxDstSyms {
		return d.corrupt("%d literal/length or %d distance codes", nlit, ndist)
	}
	var cl [19]uint8
	for i := 0; i < nclen; i++ {
		l, err := d.getBits(3)
		if err != nil {
			return err
		}
		cl[clOrder[i]] = uint8(l)
	}
	var clh huffman
	if err := clh.build(cl[:]); err != nil {
		return d.corrupt("code length code: %v", err)
	}
	lens := d.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		sym, err := d.decode(&clh)
		if err != nil {
			return err
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return d.corrupt("repeat with no length before it")
			}
			val = lens[i-1]
			rep, err = d.getBits(2)
			rep += 3
		case 17:
			rep, err = d.getBits(3)
			rep += 3
		default: // 18
			rep, err = d.getBits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+rep > len(lens) {
			return d.corrupt("code lengths run past their count")
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		return d.corrupt("no code for the end of the block")
	}
	if err := d.dynLit.build(lens[:nlit]); err != nil {
		return d.corrupt("literal/length code: %v", err)
	}
	if err := d.dynDst.build(lens[nlit:]); err != nil {
		return d.corrupt("distance code: %v", err)
	}
	return nil
}

// storedData copies a stored block's octets into the window.
func (d *Reader) storedData() error {
	for d.stored > 0 {
		if d.full() {
			return nil
		}
		if d.nb >= 8 { // octets already in the bit buffer
			d.put(byte(d.bits))
			d.bits >>= 8
			d.nb -= 8
			d.stored--
			continue
		}
		if d.pending() && d.wouldWait() {
			return nil
		}
		start := int(d.wpos & winMask)
		n := min(d.stored, winSize-int(d.wpos-d.rpos), winSize-start)
		d.reserve(n)
		n, err := d.src.Read(d.win[start : start+n])
		d.read += int64(n)
		d.wpos += uint64(n)
		d.stored -= n
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	d.state = stateHeader
	return nil
}

func (d *Reader) put(c byte) {
	if d.wpos >= d.limit {
		d.growOne()
	}
	d.win[d.wpos&winMask] = c
	d.wpos++
}

// huffmanData decodes a Huffman block's symbols into the window until the
// block ends, the window fills, or there is output and input may wait.
func (d *Reader) huffmanData() error {
	for {
		if d.copyLen > 0 {
			d.copyMatch()
			if d.copyLen > 0 { // the window is full
				return nil
			}
		}
		if d.full() || d.pending() && d.wouldWait() {
			return nil
		}
		sym, err := d.decode(d.lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			d.put(byte(sym))
			continue
		case sym == 256:
			d.state = stateHeader
			return nil
		case sym > 285:
			return d.corrupt("literal/length symbol %d", sym)
		}
		sym -= 257
		extra, err := d.getBits(uint(lenExtra[sym]))
		if err != nil {
			return err
		}
		length := int(lenBase[sym]) + extra
		ds, err := d.decode(d.dist)
		if err != nil {
			return err
		}
		if ds >= maxDstSyms {
			return d.corrupt("distance symbol %d", ds)
		}
		extra, err = d.getBits(uint(distExtra[ds]))
		if err != nil {
			return err
		}
		dist := int(distBase[ds]) + extra
		if uint64(dist) > d.wpos {
			return d.corrupt("distance %d before the stream's start", dist)
		}
		d.copyLen, d.copyDist = length, dist
	}
}

// copyMatch copies as much of the pending match as the window has room
// for: at once when it neither overlaps itself nor wraps.
func (d *Reader) copyMatch() {
	n := min(d.copyLen, winSize-int(d.wpos-d.rpos))
	d.reserve(n)
	dst, src := int(d.wpos&winMask), int((d.wpos-uint64(d.copyDist))&winMask)
	if d.copyDist >= n && dst+n <= winSize && src+n <= winSize {
		copy(d.win[dst:dst+n], d.win[src:src+n])
		d.wpos += uint64(n)
	} else {
		for i := 0; i < n; i++ {
			d.win[d.wpos&winMask] = d.win[(d.wpos-uint64(d.copyDist))&winMask]
			d.wpos++
		}
	}
	d.copyLen -= n
}

// decode reads one symbol of h, taking no more input than its code needs.
func (d *Reader) decode(h *huffman) (int, error) {
	for {
		if e := h.table[d.bits&(1<<tableBits-1)]; e != 0 {
			if n := uint(e & 15); n <= d.nb {
				d.bits >>= n
				d.nb -= n
				return int(e >> 4), nil
			}
		} else if sym, n := h.walk(d.bits, d.nb); n > maxBits {
			return 0, d.corrupt("no such code")
		} else if n > 0 {
			d.bits >>= n
			d.nb -= n
			return sym, nil
		}
		if err := d.more(); err != nil {
			return 0, err
		}
	}
}

var (
	lenBase   = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// fixedLit and fixedDist are the fixed codes (RFC 1951 3.2.6), built once
// at start and only read after.
var fixedLit, fixedDist = fixedCodes()

func fixedCodes() (lit, dist huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit.build(l[:])
	var dl [32]uint8 // 30 and 31 complete the code but are not used
	for i := range dl {
		dl[i] = 5
	}
	dist.build(dl[:])
	return lit, dist
}

// huffman is a canonical Huffman code (RFC 1951 3.2.2).
type huffman struct {
	count  [maxBits + 1]uint16 // codes of each length
	symbol [288]uint16         // symbols by code: by length, then value
	// table maps the next tableBits input bits (first bit lowest) to
	// symbol<<4 | length for codes up to tableBits long; 0: a longer code,
	// or none.
	table [1 << tableBits]uint16
}

// build makes the code of the symbols' lengths (0: not used). Like zlib
// and compress/flate it takes only complete codes, an empty one (a block
// without matches has no distance codes) and a single code of length 1.
func (h *huffman) build(lengths []uint8) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		if l > maxBits {
			return fmt.Errorf("code length %d", l)
		}
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l <= maxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errors.New("over-subscribed lengths")
		}
	}
	if n := len(lengths) - int(countZero(lengths)); left > 0 && n != 0 && !(n == 1 && h.count[1] == 1) {
		return errors.New("incomplete code")
	}
	var offs [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	h.table = [1 << tableBits]uint16{}
	code, idx := 0, 0
	for l := 1; l <= tableBits; l++ {
		for i := 0; i < int(h.count[l]); i++ {
			e := h.symbol[idx]<<4 | uint16(l)
			for j := reverse(code, l); j < 1<<tableBits; j += 1 << l {
				h.table[j] = e
			}
			idx++
			code++
		}
		code <<= 1
	}
	return nil
}

func countZero(lengths []uint8) (n uint) {
	for _, l := range lengths {
		if l == 0 {
			n++
		}
	}
	return n
}

// reverse returns the low n bits of v in reverse order: DEFLATE sends a
// code's first (highest) bit first, and the bit buffer holds it lowest.
func reverse(v, n int) int {
	r := 0
	for i := 0; i < n; i++ {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}

// walk decodes the code at the start of bits (nb of them valid) one bit
// at a time. It returns the symbol and the code's length; length 0 if nb
// bits do not finish a code, maxBits+1 if no code matches.
func (h *huffman) walk(bits uint64, nb uint) (sym int, n uint) {
	code, first, index := 0, 0, 0
	for l := uint(1); l <= maxBits; l++ {
		if l > nb {
			return 0, 0
		}
		code |= int(bits>>(l-1)) & 1
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), l
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, maxBits + 1
}
