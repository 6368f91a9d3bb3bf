package startup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Command is the program `wait -- cmd args...` runs in its own place once every target is ready.
type Command struct {
	Path string   // resolved, as execve needs it
	Args []string // argv, Args[0] as the user wrote it
}

// The causes of LookCommand's errors: no such command, or a file that cannot be executed.
var (
	ErrNotFound      = errors.New("command not found")
	ErrNotExecutable = errors.New("command not executable")
)

// LookCommand resolves argv[0] as a shell would (a name with a slash is a path, otherwise it is
// searched in PATH). `wait` calls it before the first attempt, so a typo in the command fails at
// once instead of after the dependencies came up. The error wraps ErrNotFound or ErrNotExecutable.
func LookCommand(argv []string) (Command, error) {
	if len(argv) == 0 || argv[0] == "" {
		return Command{}, fmt.Errorf("no command after --: %w", ErrNotFound)
	}
	name := argv[0]
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		// Found through a relative entry of PATH (., an empty one, node_modules/.bin): Go's own
		// lookup refuses it, but sh, bash and env (execvp) run it, and so does the entrypoint
		// wrapper of a shell's command line. path is where it is (bin/app), relative to the
		// working directory, which the exec keeps.
		err = nil
	}
	switch {
	case err == nil:
		if problem := missingInterpreter(path); problem != "" {
			return Command{}, fmt.Errorf("%w: %s: %s", ErrNotFound, name, problem)
		}
		if !runnable(path) {
			return Command{}, fmt.Errorf("%w: %s is neither a program (ELF) nor a script that starts with a #! line: execve would refuse it (exec format error); make its first line #!/bin/sh (or its interpreter)", ErrNotExecutable, name)
		}
		return Command{Path: path, Args: argv}, nil
	case errors.Is(err, syscall.EISDIR):
		return Command{}, fmt.Errorf("%w: %s is a directory", ErrNotExecutable, name)
	case errors.Is(err, fs.ErrPermission):
		return Command{}, fmt.Errorf("%w: %s: permission denied", ErrNotExecutable, name)
	case errors.Is(err, exec.ErrNotFound) && os.Getenv("PATH") == "":
		// env -i, or a process manager that passes no environment: the lookup had nowhere to look.
		return Command{}, fmt.Errorf("%w: %s is not in PATH, which is empty or not set here: set PATH, or write the command's full path (/usr/bin/%s, say)", ErrNotFound, name, name)
	case errors.Is(err, exec.ErrNotFound):
		if found := notExecutableInPath(name); found != "" {
			// As a shell and env say it (126): the file is there, and "not in PATH" sent a reader looking for it.
			return Command{}, fmt.Errorf("%w: %s: permission denied (%s is not executable: chmod +x it)", ErrNotExecutable, name, found)
		}
		if info, err := os.Stat(name); err == nil && info.Mode().IsRegular() {
			// The image's WORKDIR holds it (-- app for -- ./app): a shell does not look there either.
			return Command{}, fmt.Errorf("%w: %s is not in PATH; there is one in the current directory: write ./%s", ErrNotFound, name, name)
		}
		return Command{}, fmt.Errorf("%w: %s is not in PATH", ErrNotFound, name)
	case errors.Is(err, fs.ErrNotExist):
		return Command{}, fmt.Errorf("%w: %s: no such file", ErrNotFound, name)
	case errors.Is(err, syscall.ENOTDIR):
		// ./config.yaml/app: a file where the path wants a directory. A shell says so with 126.
		return Command{}, fmt.Errorf("%w: %s: not a directory (a part of the path before the last / is a file)", ErrNotExecutable, name)
	}
	// A shell's 127 is for a command not found alone; any other failure to run one (a name too long, a
	// loop of symbolic links) is 126.
	return Command{}, fmt.Errorf("%w: %s: %v", ErrNotExecutable, name, err)
}

// notExecutableInPath is the first file named name in PATH that the lookup passed over, not being
// executable (a script copied into /usr/local/bin without chmod +x); "" when there is none.
func notExecutableInPath(name string) string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			return path
		}
	}
	return ""
}

// missingInterpreter reads the #! line of the file at path, if it has one, and says what is missing when
// the interpreter it names does not exist, or, for #!/usr/bin/env NAME (the commonest line), when NAME is not
// in PATH: execve, or env after it, would fail with "no such file" for a file that exists, after the wait,
// where a script saved with CRLF line ends ("/bin/sh\r", "sh\r" for env) should fail at once. "" when
// nothing is known to be missing.
func missingInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "" // execve will say what is wrong
	}
	defer f.Close()
	buf := make([]byte, 256) // Linux reads at most 256 bytes of a #! line
	n, _ := io.ReadFull(f, buf)
	line, ok := bytes.CutPrefix(buf[:n], []byte("#!"))
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	// As the kernel splits it: the interpreter, then the rest of the line, blanks trimmed at both ends, as
	// one argument; a carriage return stays.
	line = bytes.TrimLeft(line, " \t")
	end := bytes.IndexAny(line, " \t")
	if end < 0 {
		end = len(line)
	}
	interp, arg := string(line[:end]), string(bytes.Trim(line[end:], " \t"))
	if interp == "" {
		return ""
	}
	if _, err := os.Stat(interp); errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("its #! line names the interpreter %s, which does not exist%s", strconv.Quote(interp), crHint(interp))
	}
	// env runs its argument from PATH, the one the command gets: that is the interpreter to look for. Its
	// options and assignments (-S, NAME=VALUE), a path, or no PATH (env has a default) are left to env.
	if filepath.Base(interp) != "env" || arg == "" || strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, "=/") {
		return ""
	}
	if _, ok := os.LookupEnv("PATH"); !ok {
		return ""
	}
	if strings.ContainsAny(arg, " \t") {
		return fmt.Sprintf("its #! line runs %s with %s as one argument (the kernel passes the rest of the line as one), which names no program: "+
			"write the interpreter's path (#!/bin/sh -e) or use env -S%s", interp, strconv.Quote(arg), crHint(arg))
	}
	if _, err := exec.LookPath(arg); errors.Is(err, exec.ErrNotFound) {
		return fmt.Sprintf("its #! line has %s run %s, which is not in PATH%s", interp, strconv.Quote(arg), crHint(arg))
	}
	return ""
}

// runnable reports whether execve can run the file at path as far as its first bytes tell: an ELF
// program or a #! script (a script without it runs from a shell, which falls back to sh, but not from
// execve). When the kernel knows other formats (binfmt_misc entries: a JVM for .jar files, say), or the
// file cannot be read, it says yes and leaves the verdict to execve.
func runnable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if bytes.HasPrefix(head[:n], []byte("\x7fELF")) || bytes.HasPrefix(head[:n], []byte("#!")) {
		return true
	}
	entries, err := os.ReadDir("/proc/sys/fs/binfmt_misc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != "register" && e.Name() != "status" {
			return true // another format registered: execve may know this one
		}
	}
	return false
}

// crHint explains an interpreter name that ends in a carriage return.
func crHint(interp string) string {
	if strings.HasSuffix(interp, "\r") {
		return " (the line ends in a carriage return: the script was saved with CRLF line ends; convert it with dos2unix)"
	}
	return ""
}

// Exec replaces the process with the command (execve): the PID stays the same, signals go to the
// command, and its exit status becomes the process's — what an entrypoint wrapper must do. It
// returns only when execve fails. Descriptors healthgate opened are close-on-exec, so the command
// inherits only stdin, stdout and stderr.
func (c Command) Exec(env []string) error {
	err := syscall.Exec(c.Path, c.Args, env)
	if errors.Is(err, syscall.ENOENT) {
		if info, serr := os.Stat(c.Path); serr == nil && info.Mode().IsRegular() {
			// The file is there (LookCommand found it): what execve did not find is the interpreter
			// its #! line names (often one ending in a carriage return: a script saved with CRLF) or,
			// for a dynamically linked binary, its loader. Not found all the same (127, as a shell).
			return fmt.Errorf("exec %s: the file exists, but not the interpreter its #! line names (a line ending in a carriage return?) or, for a dynamically linked binary, its loader: %w", c.Path, err)
		}
	}
	return fmt.Errorf("exec %s: %w", c.Path, err)
}
