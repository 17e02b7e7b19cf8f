package tablestore

import (
	"context"
	"fmt"
	"sync"
)

// runBounded calls run(ctx, task) for every task in [0, tasks), at most limit at a time. The
// first error cancels the context the other calls run under, so that tasks not yet started
// never start, and is returned once every started call has returned. When ctx ends before
// every task has started, runBounded returns an error wrapping ctx's cause.
func runBounded(ctx context.Context, tasks, limit int, run func(ctx context.Context, task int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	slots := make(chan struct{}, limit)
	started := 0
	for ; started < tasks; started++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		task := started
		wg.Go(func() {
			defer func() { <-slots }()
			if err := run(ctx, task); err != nil {
				once.Do(func() {
					first = err
					cancel(err)
				})
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if started < tasks {
		return fmt.Errorf("tablestore: %w before %d of %d requests were sent", context.Cause(ctx), tasks-started, tasks)
	}
	return nil
}
