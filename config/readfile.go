package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Caps on what healthgate reads from a path the user gives: a secret is one value, a CA bundle or a
// configuration a few hundred lines. Without them `url_file: /dev/zero` grows until the process is
// killed, and a huge file costs memory and seconds before anything is said.
const (
	SecretFileLimit = 64 << 10 // *_file, headers_file
	BundleFileLimit = 1 << 20  // tls.ca_file, tls.cert_file, tls.key_file
	ConfigFileLimit = 1 << 20  // --config
)

// FileError is why a file was not read. Its text is a complete sentence naming the path, ready to
// follow "field: " (cannot read PATH: not a regular file (a device)); Why alone follows a message that
// names the path already (the configuration file's own error, PATH: larger than 1 MiB).
type FileError struct {
	Path string
	Why  string
}

func (e *FileError) Error() string {
	if PathMayHoldSecret(e.Path) {
		return "cannot read the path (not shown: it may hold a secret): " + e.Why
	}
	return "cannot read " + e.Path + ": " + e.Why
}

// PathMayHoldSecret reports whether p, given as a file's path, may be a secret instead, which an error
// must not show: it holds what a URL, a DSN or an Authorization header does ("://", '@', '=', '?', a
// blank), as a URL or a password given where its file's path is wanted does (tls.ca_file: ${DATABASE_URL}).
func PathMayHoldSecret(p string) bool {
	return strings.Contains(p, "://") || strings.ContainsAny(p, "@=? \t")
}

// fileErrorWhy says why a file could not be opened or read, without its path.
func fileErrorWhy(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

// ReadFile reads a regular file of at most limit bytes. Anything else (a device such as /dev/zero, a
// named pipe that would block for ever, a directory) is refused at once, without reading from it; the
// error is a *FileError.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := openBounded(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The size can change between Stat and the read (or lie, in /proc): read one byte more than allowed
	// to know.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FileError{Path: path, Why: fileErrorWhy(err)}
	}
	if int64(len(data)) > limit {
		return nil, &FileError{Path: path, Why: "larger than " + byteSize(limit)}
	}
	return data, nil
}

// DigestFile is the SHA-256 of what ReadFile returns, with its errors, read as a stream: serve's reload
// poll compares the files a configuration is made of every few seconds, and holding a 1 MiB file in
// memory each time to hash it would be the cost it avoids.
func DigestFile(path string, limit int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := openBounded(path, limit)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, limit+1))
	if err != nil {
		return sum, &FileError{Path: path, Why: fileErrorWhy(err)}
	}
	if n > limit {
		return sum, &FileError{Path: path, Why: "larger than " + byteSize(limit)}
	}
	h.Sum(sum[:0])
	return sum, nil
}

// openBounded opens path for ReadFile and DigestFile: a regular file whose size says it is within limit.
func openBounded(path string, limit int64) (*os.File, error) {
	// Opening a named pipe for reading blocks until a writer appears; nonBlocking makes the open return
	// at once so that Stat can say what the path is.
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlocking, 0)
	if err != nil {
		return nil, &FileError{Path: path, Why: fileErrorWhy(err)}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &FileError{Path: path, Why: fileErrorWhy(err)}
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, &FileError{Path: path, Why: "not a regular file (" + FileKind(info.Mode()) + ")"}
	}
	if info.Size() > limit {
		f.Close()
		return nil, &FileError{Path: path, Why: fmt.Sprintf("larger than %s (%d bytes)", byteSize(limit), info.Size())}
	}
	return f, nil
}

// FileKind names the kind of a file of mode m, with its article ("a directory", "a named pipe"), for an
// error that says what a path names instead of what was expected.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
