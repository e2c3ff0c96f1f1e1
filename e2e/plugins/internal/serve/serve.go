// Package serve starts a plugin's gRPC server the way the Pulumi CLI expects: on a free port of
// 127.0.0.1, printing that port alone as the first line of stdout, and stopping on SIGINT or
// SIGTERM (the CLI interrupts a plugin's process group when it is done with it).
package serve

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"google.golang.org/grpc"
)

// Args are the flags the CLI passes to every plugin, and the engine's address.
type Args struct {
	Engine  string
	Tracing string
}

// Parse reads the plugin command line: [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS.
// The flags have a set of their own: the SDK's logging package registers some of the same
// names on the global one.
func Parse(version string) Args {
	flags := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	flags.Bool("logtostderr", false, "log to stderr (accepted, unused)")
	flags.Int("v", 0, "log verbosity (accepted, unused)")
	tracing := flags.String("tracing", "", "tracing endpoint (accepted, unused)")
	flags.String("runtime", "nodejs", "runtime (accepted, unused)")
	showVersion := flags.Bool("version", false, "print the version and exit")
	_ = flags.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println(version)
		os.Exit(0)
	}
	return Args{Engine: flags.Arg(0), Tracing: *tracing}
}

// Run registers the services, prints the port, and serves until the process is interrupted or
// the engine at `engine` stops answering (a CLI that died leaves no plugin behind), as upstream
// plugins do.
func Run(engine string, register func(*grpc.Server)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if engine != "" {
		var cancelHealth context.CancelFunc
		ctx, cancelHealth = context.WithCancel(ctx)
		defer cancelHealth()
		go func() { _ = rpcutil.Healthcheck(ctx, engine, 2*time.Second, cancelHealth) }()
	}
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			register(s)
			return nil
		},
		Cancel:  cancel,
		Options: []grpc.ServerOption{grpc.MaxRecvMsgSize(400 * 1024 * 1024)},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
}
