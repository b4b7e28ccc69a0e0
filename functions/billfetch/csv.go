package billfetch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvReader reads a WeChat Pay bill line by line in constant memory. A bill is a header
// line, data lines whose every field starts with a backtick (so spreadsheets keep long
// numbers intact), then a totals header and a totals line. Fields are separated by
// commas; a field may also be quoted as in RFC 4180 (some writers quote fields holding
// commas or quotes). An unquoted field ends at a comma followed by a backtick or a
// quote, so a comma inside a product name does not split it. Field values are returned
// without the backtick and stay valid until the next call of next.
type csvReader struct {
	br      *bufio.Reader
	line    []byte   // the current logical line (may alias br's buffer)
	buf     []byte   // holds lines longer than br's buffer
	join    []byte   // holds a line whose quoted field spans newlines
	unq     []byte   // unquoted field values
	fields  [][]byte // the current line's fields
	lineNo  int
	started bool
}

const maxLine = 1 << 20 // a bill line is a few hundred bytes; 1 MiB is corruption

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{br: bufio.NewReaderSize(r, 64<<10), fields: make([][]byte, 0, 32)}
}

var errLongLine = errors.New("line longer than 1 MiB: not a bill")

// readLine reads one physical line without its line ending. io.EOF only when nothing
// was read.
func (c *csvReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.buf = append(c.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(c.buf) > maxLine {
				return nil, errLongLine
			}
			line, err = c.br.ReadSlice('\n')
			c.buf = append(c.buf, line...)
		}
		line = c.buf
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == io.EOF && len(line) == 0 {
		return nil, io.EOF
	}
	c.lineNo++
	line = bytes.TrimRight(line, "\r\n")
	if !c.started {
		c.started = true
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	}
	return line, nil
}

// next reads the next non-empty line and splits it into fields. It returns io.EOF at
// the end of the input.
func (c *csvReader) next() error {
	for {
		line, err := c.readLine()
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// A quoted field may span lines: join until the quotes balance.
		if openQuote(line) {
			joined := append(c.join[:0], line...)
			for openQuote(joined) {
				more, err := c.readLine()
				if err != nil {
					return fmt.Errorf("line %d: unterminated quoted field", c.lineNo)
				}
				joined = append(append(joined, '\n'), more...)
				if len(joined) > maxLine {
					return errLongLine
				}
			}
			c.join, line = joined, joined
		}
		c.line = line
		return c.split()
	}
}

// openQuote reports whether line ends inside a quoted field.
func openQuote(line []byte) bool {
	if bytes.IndexByte(line, '"') < 0 {
		return false
	}
	in := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '"' && in && i+1 < len(line) && line[i+1] == '"':
			i++
		case line[i] == '"' && (in || i == 0 || line[i-1] == ','):
			in = !in
		}
	}
	return in
}

func (c *csvReader) split() error {
	c.fields = c.fields[:0]
	c.unq = c.unq[:0]
	line := c.line
	for pos := 0; ; {
		var f []byte
		if pos < len(line) && line[pos] == '"' {
			// Quoted: up to the closing quote, "" standing for ".
			start := len(c.unq)
			i := pos + 1
			closed := false
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						c.unq = append(c.unq, '"')
						i += 2
						continue
					}
					closed = true
					i++
					break
				}
				c.unq = append(c.unq, line[i])
				i++
			}
			if !closed {
				return fmt.Errorf("line %d: unterminated quoted field", c.lineNo)
			}
			f = c.unq[start:len(c.unq):len(c.unq)]
			if i < len(line) && line[i] != ',' {
				return fmt.Errorf("line %d: text after a closing quote", c.lineNo)
			}
			pos = i
		} else {
			end := fieldEnd(line, pos)
			f = line[pos:end]
			pos = end
		}
		if len(f) > 0 && f[0] == '`' {
			f = f[1:]
		}
		if len(f) > 0 && (isSpace(f[0]) || isSpace(f[len(f)-1])) {
			f = bytes.TrimSpace(f)
		}
		c.fields = append(c.fields, f)
		if pos >= len(line) {
			return nil
		}
		pos++ // the comma
	}
}

// fieldEnd finds the comma ending an unquoted field that starts at pos: one followed
// by a backtick or a quote (the start of the next field), else the plain next comma
// when the line does not use backticks there (header lines).
func fieldEnd(line []byte, pos int) int {
	if pos < len(line) && line[pos] == '`' {
		// Fields are short: a byte loop beats a call per comma.
		for i := pos + 1; i < len(line); i++ {
			if line[i] == ',' && (i+1 == len(line) || line[i+1] == '`' || line[i+1] == '"') {
				return i
			}
		}
		return len(line)
	}
	if j := bytes.IndexByte(line[pos:], ','); j >= 0 {
		return pos + j
	}
	return len(line)
}

// header maps column names to their position.
type header map[string]int

func newHeader(fields [][]byte) header {
	h := make(header, len(fields))
	for i, f := range fields {
		h[string(f)] = i
	}
	return h
}

// col is the position of name, or -1.
func (h header) col(name string) int {
	if i, ok := h[name]; ok {
		return i
	}
	return -1
}

// field returns the i-th field, or nil when i is -1 or beyond the line.
func (c *csvReader) field(i int) []byte {
	if i < 0 || i >= len(c.fields) {
		return nil
	}
	return c.fields[i]
}

// yuanToFen converts an amount in yuan ("12.34", "-0.01", "5", "0.00000") to fen
// exactly, without floating point. Digits beyond the second decimal must be zero: fen
// is the smallest unit WeChat Pay settles.
func yuanToFen(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	neg := false
	switch b[0] {
	case '-':
		neg, b = true, b[1:]
	case '+':
		b = b[1:]
	}
	var yuan, fen int64
	i, digits := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if yuan > (1<<62)/1000 {
			return 0, fmt.Errorf("amount %q is out of range", b)
		}
		yuan = yuan*10 + int64(b[i]-'0')
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i, n = i+1, n+1 {
			switch {
			case n < 2:
				fen = fen*10 + int64(b[i]-'0')
			case b[i] != '0':
				return 0, fmt.Errorf("amount %q has a fraction of a fen", b)
			}
		}
		if n == 1 {
			fen *= 10 // "1.5" is 150 fen
		}
		digits += n
	}
	if i != len(b) || digits == 0 {
		return 0, fmt.Errorf("amount %q is not a number of yuan", b)
	}
	v := yuan*100 + fen
	if neg {
		v = -v
	}
	return v, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }
