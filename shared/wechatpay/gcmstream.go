package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// AEAD_AES_256_GCM as a stream, for the encrypted fund bills (二级商户资金账单), whose
// files can be gigabytes: the standard library's cipher.AEAD wants the whole
// ciphertext in memory, because GCM's tag covers all of it. GCM is CTR mode plus a
// polynomial hash (GHASH) over the ciphertext, and GHASH is linear, so it can be
// computed chunk by chunk and the chunks combined:
//
//	G(A‖B) = G(A)·H^blocks(B) ⊕ G(B)     (A a whole number of 16-byte blocks)
//
// The bulk of each chunk is hashed by the standard library's (assembly) GCM itself:
// sealing an empty plaintext under a fixed nonce with the chunk as additional data
// yields GHASH(chunk ‖ length block) masked by a constant we can compute and remove.
// Only a handful of portable field multiplications per 64 KiB chunk remain. CTR uses
// cipher.NewCTR with GCM's 32-bit counter wrap-around restored (inc32). Everything is
// checked against cipher.NewGCMWithNonceSize in gcmstream_test.go.
//
// The bill files use the nonce of their download_bill_list entry as bytes — WeChat
// Pay's example is 16 characters ("a8607ef79034c49c"), not GCM's usual 12 — and an
// empty associated_data (下载单个子商户/二级商户资金账单, pay.weixin.qq.com/doc/v3/partner/4014314390:
// "附加数据包(填空)"; the file is binary ciphertext with the 16-byte tag at its end, not
// base64).

const (
	gcmTagSize = 16
	// gcmChunk is the unit hashed by one call of the standard GCM: large enough that
	// the per-chunk field multiplications do not matter, small enough to be constant
	// memory.
	gcmChunk = 64 << 10
)

// ErrBillDecrypt means an encrypted bill file failed AEAD_AES_256_GCM authentication:
// the file (or its nonce or key) was altered or truncated. Nothing decrypted from it
// may be used.
var ErrBillDecrypt = errors.New("wechatpay: encrypted bill does not authenticate (AEAD_AES_256_GCM tag mismatch): the file, its nonce or its encrypt_key was altered or truncated; apply for the bill again")

// gf is an element of GF(2^128) in GCM's bit order: hi holds bytes 0–7 of the block
// big-endian, the first bit being the coefficient of x^0.
type gf struct{ hi, lo uint64 }

func gfLoad(b []byte) gf { return gf{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])} }

func (x gf) put(b []byte) {
	binary.BigEndian.PutUint64(b, x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
}

func (x gf) xor(y gf) gf { return gf{x.hi ^ y.hi, x.lo ^ y.lo} }

// mul is the multiplication of NIST SP 800-38D, algorithm 1: bit by bit, slow, and
// used only a few times per chunk.
func (x gf) mul(y gf) gf {
	var z gf
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = z.xor(v)
		}
		carry := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if carry == 1 {
			v.hi ^= 0xe100000000000000
		}
	}
	return z
}

// pow is x^n by squaring.
func (x gf) pow(n uint64) gf {
	r := gf{hi: 1 << 63} // the field's 1
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			r = r.mul(x)
		}
		x = x.mul(x)
	}
	return r
}

// gcmStream holds the keys of one file: the block cipher, the hash key H and the
// helpers of the chunked GHASH.
type gcmStream struct {
	block   cipher.Block
	ghash   cipher.AEAD // standard GCM under a zero nonce: the bulk GHASH engine
	h       gf
	hChunk  gf // H^(gcmChunk/16)
	lhChunk gf // length block of a full chunk, times H
	mask    gf // E_K(J0) of the zero nonce, removed from the engine's tags
	j0      [16]byte
	zero    [12]byte
	tag     [gcmTagSize]byte
	acc     gf     // H·G(ciphertext so far)
	n       uint64 // ciphertext bytes so far
	ctr     ctr32
}

func newGCMStream(key, nonce []byte) (*gcmStream, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("wechatpay: AEAD_AES_256_GCM needs a 32-byte key, got %d bytes", len(key))
	}
	if len(nonce) == 0 {
		return nil, errors.New("wechatpay: AEAD_AES_256_GCM nonce is empty")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: aes: %w", err)
	}
	engine, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: gcm: %w", err)
	}
	s := &gcmStream{block: block, ghash: engine}
	var b [16]byte
	block.Encrypt(b[:], b[:])
	s.h = gfLoad(b[:])
	s.hChunk = s.h.pow(gcmChunk / 16)
	s.lhChunk = gf{hi: gcmChunk * 8}.mul(s.h)
	// The engine's J0 for the zero 12-byte nonce is 0^96 ‖ 1.
	b = [16]byte{15: 1}
	block.Encrypt(b[:], b[:])
	s.mask = gfLoad(b[:])
	// The file's J0 (SP 800-38D §7.1): the nonce ‖ 0^31 ‖ 1 for 12 bytes, else
	// GHASH(nonce padded ‖ 0^64 ‖ [bit length]64).
	if len(nonce) == 12 {
		copy(s.j0[:], nonce)
		s.j0[15] = 1
	} else {
		var y gf
		for i := 0; i < len(nonce); i += 16 {
			var blk [16]byte
			copy(blk[:], nonce[i:])
			y = y.xor(gfLoad(blk[:])).mul(s.h)
		}
		y = y.xor(gf{lo: uint64(len(nonce)) * 8}).mul(s.h)
		y.put(s.j0[:])
	}
	s.ctr.init(block, s.j0)
	return s, nil
}

// hash adds one piece of ciphertext to the running GHASH. Every piece but the last
// must be exactly gcmChunk bytes.
func (s *gcmStream) hash(c []byte) {
	if len(c) == 0 {
		return
	}
	t := s.ghash.Seal(s.tag[:0], s.zero[:], nil, c)
	g := gfLoad(t).xor(s.mask) // GHASH(c padded ‖ [len c]64 ‖ 0^64)
	blocks := uint64(len(c)+15) / 16
	if len(c) == gcmChunk {
		s.acc = s.acc.mul(s.hChunk).xor(g.xor(s.lhChunk))
	} else {
		lh := gf{hi: uint64(len(c)) * 8}.mul(s.h)
		s.acc = s.acc.mul(s.h.pow(blocks)).xor(g.xor(lh))
	}
	s.n += uint64(len(c))
}

// sum is the tag of everything hashed (associated data empty).
func (s *gcmStream) sum(tag []byte) {
	g := s.acc.xor(gf{lo: s.n * 8}.mul(s.h))
	var ek [16]byte
	s.block.Encrypt(ek[:], s.j0[:])
	g.xor(gfLoad(ek[:])).put(tag)
}

// ctr32 is GCM's counter mode: the counter block's last 32 bits count and wrap
// around alone (inc32), which cipher.NewCTR, counting on all 128 bits, does not; a
// new CTR is started at the wrap.
type ctr32 struct {
	block cipher.Block
	iv    [16]byte
	s     cipher.Stream
	left  uint64 // bytes the current stream may produce before the wrap
}

func (c *ctr32) init(block cipher.Block, j0 [16]byte) {
	c.block, c.iv = block, j0
	c.restart(binary.BigEndian.Uint32(j0[12:]) + 1)
}

func (c *ctr32) restart(low uint32) {
	binary.BigEndian.PutUint32(c.iv[12:], low)
	c.s = cipher.NewCTR(c.block, c.iv[:])
	c.left = (1<<32 - uint64(low)) * 16
}

func (c *ctr32) xor(dst, src []byte) {
	for len(src) > 0 {
		n := uint64(len(src))
		if n > c.left {
			n = c.left
		}
		c.s.XORKeyStream(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
		if c.left -= n; c.left == 0 {
			c.restart(0)
		}
	}
}

// openBillPart decrypts one encrypted bill file: src is the file exactly as
// downloaded (ciphertext then the 16-byte tag), key the 32-byte key unwrapped from
// encrypt_key (unwrapBillKey), nonce the entry's nonce. The plaintext is written to
// dst as it is decrypted, in constant memory, before the tag can be checked: dst must
// be a spool (a temporary file) whose content is used only if openBillPart returns
// nil. A wrong key, nonce or a changed byte returns an error matching ErrBillDecrypt.
func openBillPart(dst io.Writer, src io.Reader, key []byte, nonce string) (int64, error) {
	s, err := newGCMStream(key, []byte(nonce))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, gcmChunk+gcmTagSize)
	have := 0
	var written int64
	for {
		n, rerr := io.ReadFull(src, buf[have:])
		have += n
		if rerr == nil {
			// A full chunk and the 16 bytes after it, which may be the tag: keep them.
			c := buf[:gcmChunk]
			s.hash(c)
			s.ctr.xor(c, c)
			if _, err := dst.Write(c); err != nil {
				return written, err
			}
			written += gcmChunk
			have = copy(buf, buf[gcmChunk:have])
			continue
		}
		if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return written, fmt.Errorf("wechatpay: reading the encrypted bill after %d bytes: %w", written, rerr)
		}
		if have < gcmTagSize {
			return written, fmt.Errorf("%w (the file is %d bytes, shorter than the tag)", ErrBillDecrypt, written+int64(have))
		}
		c, tag := buf[:have-gcmTagSize], buf[have-gcmTagSize:have]
		s.hash(c)
		s.ctr.xor(c, c)
		var want [gcmTagSize]byte
		s.sum(want[:])
		if _, err := dst.Write(c); err != nil {
			return written, err
		}
		written += int64(len(c))
		if subtle.ConstantTimeCompare(want[:], tag) != 1 {
			return written, ErrBillDecrypt
		}
		return written, nil
	}
}

// SealBillPart encrypts a bill file as WeChat Pay does (the simulator's side of
// openBillPart): src's bytes then the tag are written to dst, in constant memory.
func SealBillPart(dst io.Writer, src io.Reader, key []byte, nonce string) (int64, error) {
	s, err := newGCMStream(key, []byte(nonce))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, gcmChunk)
	var written int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			c := buf[:n]
			s.ctr.xor(c, c)
			s.hash(c)
			if _, err := dst.Write(c); err != nil {
				return written, err
			}
			written += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return written, rerr
		}
	}
	var tag [gcmTagSize]byte
	s.sum(tag[:])
	if _, err := dst.Write(tag[:]); err != nil {
		return written, err
	}
	return written + gcmTagSize, nil
}
