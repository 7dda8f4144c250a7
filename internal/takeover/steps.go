package takeover

import (
	"errors"
	"fmt"
)

// step is one change of a takeover or release and the change that undoes
// it. undo returns the system to what it was before do, also when do failed
// half-way.
type step struct {
	name string
	do   func() error
	undo func() error
}

// errInjected is the failure FailAt injects.
var errInjected = errors.New("failure injected for a rollback drill")

// ErrStep marks the failure of a step, once a takeover or release had
// begun to change the system (and rolled back); a refusal before any step
// is not one.
var ErrStep = errors.New("a step failed")

type stepError struct{ error }

func (e stepError) Is(target error) bool { return target == ErrStep }
func (e stepError) Unwrap() error        { return e.error }

// run does the steps in order. When one fails, the ones done (and the one
// that failed) are undone in reverse order. failAt > 0 makes step failAt
// (1-based) fail once its change is made, so that its undo runs too.
func run(steps []step, failAt int) (done []string, err error) {
	for i, s := range steps {
		err := s.do()
		if err == nil && i+1 == failAt {
			err = errInjected
		}
		if err != nil {
			err = fmt.Errorf("step %d of %d, %s: %w", i+1, len(steps), s.name, err)
			var undoErrs []error
			for j := i; j >= 0; j-- {
				if steps[j].undo == nil {
					continue
				}
				if uerr := steps[j].undo(); uerr != nil {
					undoErrs = append(undoErrs, fmt.Errorf("undo step %d, %s: %w", j+1, steps[j].name, uerr))
				}
			}
			if len(undoErrs) > 0 {
				return done, stepError{fmt.Errorf("%w; rolling back failed, the system is between states: %w", err, errors.Join(undoErrs...))}
			}
			return done, stepError{fmt.Errorf("%w; rolled back, nothing changed", err)}
		}
		done = append(done, s.name)
	}
	return done, nil
}
