// pulumi-resource-command: the project's stand-in for pulumi-command 1.2.1, whose provider module
// the Go module proxy here does not serve. It implements `command:local:Command` as the upstream
// provider does (the other resources of the package are not implemented):
//   - Create runs `create`, Update runs `update` (or `create`), Delete runs the stored `delete`,
//     each with `interpreter` (default /bin/sh -c) in `dir`, with the provider's environment plus
//     `environment` (on delete: the stored one), `stdin`, and PULUMI_COMMAND_STDOUT/STDERR of the
//     previous run unless `addPreviousOutputInEnv` is false;
//   - stdout and stderr are captured with one trailing newline removed, the streams `logging`
//     selects are shown line by line beside the resource, a failure reads
//     `exit status N: running "<command>":` followed by the whole output;
//   - any input change is an update, except `triggers`, which replaces; Read returns the state;
//   - a preview runs nothing and leaves stdout and stderr unknown; `timeout` kills the command.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	"platform-e2e/plugins/internal/provider"
)

var version = "1.2.1"

const localCommand = "command:local:Command"

func main() {
	p := &commandProvider{Base: provider.Base{Name: "command", Version: version, AcceptSecrets: true}}
	provider.Serve(&p.Base, p)
}

type commandProvider struct {
	provider.Base
}

func checkType(t string) error {
	if t != localCommand {
		return fmt.Errorf("this stand-in command provider implements only %s, not %s", localCommand, t)
	}
	return nil
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := provider.Unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if req.GetOldInputs() == nil {
		// An old engine: the state holds the inputs plus stdout and stderr.
		if olds, err = provider.Unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
		delete(olds, "stdout")
		delete(olds, "stderr")
	}
	news, err := provider.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, path := range req.GetIgnoreChanges() {
		k := resource.PropertyKey(path)
		if v, ok := olds[k]; ok {
			news[k] = v
		} else {
			delete(news, k)
		}
	}
	return provider.Diff(olds, news, func(k string) bool { return k == "triggers" }), nil
}

// newID is the resource name and eight random hex digits, as upstream makes it.
func newID(urn string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := urn[strings.LastIndex(urn, "::")+2:]
	return name + hex.EncodeToString(b)
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(provider.TypeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	inputs, err := provider.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state := inputs.Copy()
	if req.GetPreview() {
		state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		stdout, stderr, err := p.run(ctx, req.GetUrn(), inputs, provider.String(inputs, "create"), "", "", req.GetTimeout())
		if err != nil {
			return nil, err
		}
		state["stdout"], state["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	}
	props, err := provider.Marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: newID(req.GetUrn()), Properties: props}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := provider.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := provider.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	state := news.Copy()
	state["stdout"], state["stderr"] = olds["stdout"], olds["stderr"]
	command := provider.String(news, "update")
	if command == "" {
		command = provider.String(news, "create")
	}
	switch {
	case req.GetPreview():
		changed := false
		for k, v := range olds {
			if n, ok := news[k]; ok && k != "stdout" && k != "stderr" && !n.DeepEquals(v) {
				changed = true
			}
		}
		if changed || news.ContainsUnknowns() {
			state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
			state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	case command != "":
		stdout, stderr, err := p.run(ctx, req.GetUrn(), news, command,
			provider.String(olds, "stdout"), provider.String(olds, "stderr"), req.GetTimeout())
		if err != nil {
			return nil, err
		}
		state["stdout"], state["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	}
	props, err := provider.Marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete runs the stored `delete` with the stored inputs, environment included.
func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := provider.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if command := provider.String(state, "delete"); command != "" {
		if _, _, err := p.run(ctx, req.GetUrn(), state, command,
			provider.String(state, "stdout"), provider.String(state, "stderr"), req.GetTimeout()); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// lineWriter shows each complete line it is given as a status line of the resource.
type lineWriter struct {
	w    *io.PipeWriter
	done chan struct{}
}

func newLineWriter(show func(string)) *lineWriter {
	r, w := io.Pipe()
	lw := &lineWriter{w: w, done: make(chan struct{})}
	go func() {
		defer close(lw.done)
		scanner := bufio.NewScanner(r)
		scanner.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for scanner.Scan() {
			show(scanner.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return lw
}

func (lw *lineWriter) Write(b []byte) (int, error) { return lw.w.Write(b) }
func (lw *lineWriter) Close() {
	_ = lw.w.Close()
	<-lw.done
}

func (p *commandProvider) run(ctx context.Context, urn string, in resource.PropertyMap, command, prevOut, prevErr string, timeout float64) (string, string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout*float64(time.Second)))
		defer cancel()
	}
	argv := []string{"/bin/sh", "-c"}
	if v, ok := in["interpreter"]; ok && provider.Plain(v).IsArray() && len(v.ArrayValue()) > 0 {
		argv = nil
		for _, e := range provider.Plain(v).ArrayValue() {
			argv = append(argv, e.StringValue())
		}
	}
	argv = append(argv, command)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = provider.String(in, "dir")
	env := os.Environ()
	if v, ok := in["environment"]; ok && provider.Plain(v).IsObject() {
		for k, e := range provider.Plain(v).ObjectValue() {
			if e.IsString() {
				env = append(env, string(k)+"="+e.StringValue())
			}
		}
	}
	addPrevious := true
	if v, ok := in["addPreviousOutputInEnv"]; ok && provider.Plain(v).IsBool() {
		addPrevious = provider.Plain(v).BoolValue()
	}
	if addPrevious && prevOut != "" {
		env = append(env, "PULUMI_COMMAND_STDOUT="+prevOut)
	}
	if addPrevious && prevErr != "" {
		env = append(env, "PULUMI_COMMAND_STDERR="+prevErr)
	}
	cmd.Env = env
	if stdin := provider.String(in, "stdin"); stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}

	logging := "stdoutAndStderr"
	if _, ok := in["logging"]; ok {
		logging = provider.String(in, "logging")
	}
	var stdout, stderr, combined bytes.Buffer
	lines := newLineWriter(func(line string) { p.Status(urn, line) })
	outs := []io.Writer{&stdout, &combined}
	errs := []io.Writer{&stderr, &combined}
	if logging == "stdout" || logging == "stdoutAndStderr" {
		outs = append(outs, lines)
	}
	if logging == "stderr" || logging == "stdoutAndStderr" {
		errs = append(errs, lines)
	}
	cmd.Stdout = io.MultiWriter(outs...)
	cmd.Stderr = io.MultiWriter(errs...)
	err := cmd.Run()
	lines.Close()
	if err != nil {
		return "", "", fmt.Errorf("%w: running %q:\n%s", err, command, combined.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}
