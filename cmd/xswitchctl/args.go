package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagSet is the flag set of a command, with its synopsis ("xswitchctl
// port add [flags] BRIDGE IFACE") and what -h says of it.
type flagSet struct {
	*flag.FlagSet
	synopsis, about string
	out             io.Writer
}

// flags returns the flag set of a command: name as the user types it
// ("xswitchctl port add"), args its positional arguments and about what it
// does. It has the global flags too, so they may follow the command. The
// flag package writes nothing: parse says what is wrong.
func (cl *cli) flags(name, args, about string) *flagSet {
	fs := &flagSet{flag.NewFlagSet(name, flag.ContinueOnError), strings.TrimSpace(name + " [flags] " + args), about, cl.stderr}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cl.globalFlags(fs.FlagSet, cl.socket, cl.timeout)
	return fs
}

// help writes what -h says.
func (fs *flagSet) help() {
	fmt.Fprintf(fs.out, "Usage: %s\n\n%s\n\nFlags:\n", fs.synopsis, fs.about)
	fs.SetOutput(fs.out)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// usageError is a wrong command line: exit 2. The message is said with the
// command's synopsis, or, without a command (fs nil), was said already.
type usageError struct {
	fs  *flagSet
	msg string
}

func (e usageError) Error() string { return e.msg }

// parseFlags reads flags up to the first positional argument. -h shows
// the command's help and ends it with flag.ErrHelp.
func (fs *flagSet) parseFlags(args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.help()
		return err
	case err != nil:
		return usageError{fs: fs, msg: err.Error()}
	}
	return nil
}

// parse reads a command's flags wherever they stand among its positional
// arguments, which it returns; it wants between min and max of them (max
// -1: any number). The flag package stops at the first positional argument,
// so parse starts it again after each. Everything after "--" is
// positional.
func (fs *flagSet) parse(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.parseFlags(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usageError{fs: fs, msg: "too few arguments"}
	case max >= 0 && len(pos) > max:
		return nil, usageError{fs: fs, msg: "too many arguments: " + strings.Join(pos[max:], " ")}
	}
	return pos, nil
}
