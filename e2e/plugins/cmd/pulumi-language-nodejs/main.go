// pulumi-language-nodejs: the project's stand-in for Pulumi's Node.js language host, which the
// Go module proxy here does not serve. It speaks the LanguageRuntime protocol of the pinned CLI
// and does what the upstream host does for `preview`, `up`, `refresh` and `destroy`: it runs the
// program with @pulumi/pulumi's own runner (cmd/run), runs policy packs with cmd/run-policy-pack
// behind the same ConfigureStack handshake, and reports the provider packages in node_modules.
// It does not implement code generation (`pulumi convert`, `package gen-sdk`) or debugging.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"platform-e2e/plugins/internal/serve"
)

// version is the CLI release this host stands in for (set with -ldflags -X main.version=...).
var version = "3.248.0"

// alreadyReported is the runner's exit code for "the error was already shown to the user".
const alreadyReported = 32

func main() {
	args := serve.Parse(version)
	h := &host{engine: args.Engine, tracing: args.Tracing, running: map[*exec.Cmd]struct{}{}}
	serve.Run(args.Engine, func(s *grpc.Server) { pulumirpc.RegisterLanguageRuntimeServer(s, h) })
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine  string
	tracing string

	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engine = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Cancel interrupts every program and policy pack this host started.
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd := range h.running {
		if cmd.Process != nil {
			_ = cmd.Process.Signal(syscall.SIGINT)
		}
	}
	return &emptypb.Empty{}, nil
}

func (h *host) track(cmd *exec.Cmd, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.running[cmd] = struct{}{}
	} else {
		delete(h.running, cmd)
	}
}

// options are the runtime options of Pulumi.yaml (or PulumiPolicy.yaml) that change how node runs.
type options struct {
	typescript bool
	tsconfig   string
	nodeargs   []string
}

func parseOptions(info *pulumirpc.ProgramInfo) (options, error) {
	o := options{typescript: true}
	m := info.GetOptions().AsMap()
	if v, ok := m["typescript"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return o, errors.New("typescript option must be a boolean")
		}
		o.typescript = b
	}
	if v, ok := m["tsconfig"]; ok {
		s, isString := v.(string)
		if !isString {
			return o, errors.New("tsconfig option must be a string")
		}
		o.tsconfig = s
	}
	if v, ok := m["nodeargs"]; ok {
		s, isString := v.(string)
		if !isString {
			return o, errors.New("nodeargs option must be a string")
		}
		o.nodeargs = strings.Fields(s)
	}
	return o, nil
}

func (o options) env() []string {
	var env []string
	if o.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// resolve finds a module of the program's @pulumi/pulumi the way node itself would, from dir.
func resolve(node, dir, module, hint string) (string, error) {
	script := fmt.Sprintf(`try { console.log(require.resolve(%q)); } catch (error) { `+
		`if (error.code === "MODULE_NOT_FOUND") { console.error(%q); } else { console.error(error.message); } process.exit(1); }`,
		module, hint)
	cmd := exec.Command(node, "-e", script)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.New(strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if d := info.GetProgramDirectory(); d != "" {
		return d
	}
	return fallback
}

// configEnv is PULUMI_CONFIG as the Node SDK reads it: keys "<namespace>:config:<name>".
func configEnv(config map[string]string) (string, error) {
	out := map[string]string{}
	for k, v := range config {
		ns, name, found := strings.Cut(k, ":")
		if !found {
			return "", fmt.Errorf("config key %q has no namespace", k)
		}
		if !strings.HasPrefix(name, "config:") {
			name = "config:" + name
		}
		out[ns+":"+name] = v
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// Run runs the program with @pulumi/pulumi/cmd/run, as the upstream host does.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engine == "" {
		return nil, status.Error(codes.FailedPrecondition, "must call Handshake before Run when the engine address is not on the command line")
	}
	dir := programDir(req.GetInfo(), req.GetPwd())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = req.GetProgram()
	}
	if entry == "" {
		entry = "."
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on the $PATH: " + err.Error()}, nil
	}
	opts, err := parseOptions(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	module := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if module == "" {
		module = "@pulumi/pulumi/cmd/run"
	}
	runner, err := resolve(node, dir, module, "It looks like the Pulumi SDK has not been installed. Have you run pulumi install?")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	args := append([]string{}, opts.nodeargs...)
	args = append(args, runner, "--monitor", req.GetMonitorAddress(), "--engine", h.engine)
	for _, kv := range [][2]string{
		{"--organization", req.GetOrganization()},
		{"--project", req.GetProject()},
		{"--root-directory", req.GetInfo().GetRootDirectory()},
		{"--stack", req.GetStack()},
		{"--pwd", dir},
	} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, "--parallel", fmt.Sprint(req.GetParallel()))
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	config, err := configEnv(req.GetConfig())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, _ := json.Marshal(secretKeys)
	env := append(os.Environ(), "PULUMI_CONFIG="+config, "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	env = append(env, opts.env()...)

	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}
	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{Error: "Problem executing program (could not run language executor): " + err.Error()}, nil
	}
	h.track(cmd, true)
	defer h.track(cmd, false)
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGINT) })
	defer stop()
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == alreadyReported:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: "Program exited unexpectedly: " + err.Error()}, nil
	}
}

// GetRequiredPackages lists the resource plugins of the provider SDKs in node_modules (the
// `pulumi` block of their package.json), so the engine knows their versions up front.
func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	root := filepath.Join(programDir(req.GetInfo(), "."), "node_modules")
	var files []string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "@") {
			scoped, _ := os.ReadDir(filepath.Join(root, e.Name()))
			for _, s := range scoped {
				files = append(files, filepath.Join(root, e.Name(), s.Name(), "package.json"))
			}
		} else {
			files = append(files, filepath.Join(root, e.Name(), "package.json"))
		}
	}
	var packages []*pulumirpc.PackageDependency
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pkg struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Pulumi  *struct {
				Resource bool   `json:"resource"`
				Name     string `json:"name"`
				Version  string `json:"version"`
				Server   string `json:"server"`
			} `json:"pulumi"`
		}
		if json.Unmarshal(b, &pkg) != nil || pkg.Pulumi == nil || !pkg.Pulumi.Resource {
			continue
		}
		name := pkg.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(pkg.Name, "@pulumi/")
		}
		v := pkg.Pulumi.Version
		if v == "" {
			v = pkg.Version
		}
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		packages = append(packages, &pulumirpc.PackageDependency{Name: name, Kind: "resource", Version: v, Server: pkg.Pulumi.Server})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	out, _ := exec.Command(node, "--version").Output()
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(string(out)),
		Metadata: map[string]string{"packagemanager": "npm"}}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) Template(context.Context, *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return &pulumirpc.TemplateResponse{}, nil
}

// InstallDependencies runs `npm install` in the program directory, streaming its output.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, s grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	dir := programDir(req.GetInfo(), req.GetDirectory())
	_ = s.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte("Installing dependencies...\n\n")})
	cmd := exec.Command("npm", "install", "--loglevel=error")
	cmd.Dir = dir
	cmd.Stdout = streamWriter(func(b []byte) error { return s.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b}) })
	cmd.Stderr = streamWriter(func(b []byte) error { return s.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b}) })
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm install failed: %w", err)
	}
	return s.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte("Finished installing dependencies\n\n")})
}

type streamWriter func([]byte) error

func (w streamWriter) Write(b []byte) (int, error) {
	if err := w(append([]byte{}, b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// RunPlugin runs a policy pack (kind "analyzer") with @pulumi/pulumi/cmd/run-policy-pack. As
// upstream, the CLI first gets the port of a proxy, and the pack starts only once the CLI has
// told the proxy the stack (ConfigureStack), so that the pack sees the stack's config.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, s grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented, "this stand-in host runs only policy packs, not %q plugins", req.GetKind())
	}
	dir := programDir(req.GetInfo(), req.GetPwd())
	stdout := streamWriter(func(b []byte) error {
		return s.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	})
	stderr := streamWriter(func(b []byte) error {
		return s.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	})

	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	opts, err := parseOptions(req.GetInfo())
	if err != nil {
		return err
	}
	runner, err := resolve(node, dir, "@pulumi/pulumi/cmd/run-policy-pack",
		"It looks like the Pulumi SDK has not been installed. Have you run npm install in "+dir+"?")
	if err != nil {
		return err
	}

	proxy := newPolicyProxy()
	handle, err := proxy.serve()
	if err != nil {
		return err
	}
	defer proxy.stop()
	if _, err := fmt.Fprintf(stdout, "%d\n", handle); err != nil {
		return err
	}
	var stack *pulumirpc.AnalyzerStackConfigureRequest
	select {
	case stack = <-proxy.configured:
	case <-s.Context().Done():
		return s.Context().Err()
	}

	env := append(append([]string{}, req.GetEnv()...), opts.env()...)
	if stack != nil {
		for _, kv := range [][2]string{
			{"PULUMI_NODEJS_ORGANIZATION", stack.GetOrganization()},
			{"PULUMI_NODEJS_PROJECT", stack.GetProject()},
			{"PULUMI_NODEJS_STACK", stack.GetStack()},
			{"PULUMI_NODEJS_DRY_RUN", fmt.Sprint(stack.GetDryRun())},
		} {
			if kv[1] != "" {
				env = append(env, kv[0]+"="+kv[1])
			}
		}
		config, _ := json.Marshal(stack.GetConfig())
		env = append(env, "PULUMI_CONFIG="+string(config))
	}

	args := append([]string{runner}, opts.nodeargs...)
	args = append(args, req.GetArgs()...)
	args = append(args, dir)
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("Problem executing plugin program (could not run language executor): %w", err)
	}
	h.track(cmd, true)
	defer h.track(cmd, false)
	stop := context.AfterFunc(s.Context(), func() { _ = cmd.Process.Signal(syscall.SIGINT) })
	defer stop()

	// The pack's own analyzer port is the first line it prints; the rest is its output.
	lines := bufio.NewReader(pipe)
	first, readErr := lines.ReadString('\n')
	if readErr == nil {
		var port int
		if _, err := fmt.Sscanf(strings.TrimSpace(first), "%d", &port); err != nil {
			_, _ = stdout.Write([]byte(first))
		} else if err := proxy.attach(fmt.Sprintf("127.0.0.1:%d", port), stack); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
	}
	_, _ = io.Copy(stdout, lines)
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("Program exited with non-zero exit code: %d", exit.ExitCode())
	}
	return err
}

// policyProxy answers the CLI's analyzer calls: Handshake and ConfigureStack at once, the others
// by forwarding them to the policy pack once it runs.
type policyProxy struct {
	pulumirpc.UnimplementedAnalyzerServer
	configured chan *pulumirpc.AnalyzerStackConfigureRequest
	once       sync.Once
	ready      chan struct{}
	client     pulumirpc.AnalyzerClient
	conn       *grpc.ClientConn
	server     *grpc.Server
}

func newPolicyProxy() *policyProxy {
	return &policyProxy{configured: make(chan *pulumirpc.AnalyzerStackConfigureRequest, 1), ready: make(chan struct{})}
}

func (p *policyProxy) serve() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	p.server = grpc.NewServer(grpc.MaxRecvMsgSize(400 * 1024 * 1024))
	pulumirpc.RegisterAnalyzerServer(p.server, p)
	go func() { _ = p.server.Serve(lis) }()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

func (p *policyProxy) stop() {
	if p.server != nil {
		p.server.Stop()
	}
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// configure records the stack once; a call before ConfigureStack starts the pack without one.
func (p *policyProxy) configure(req *pulumirpc.AnalyzerStackConfigureRequest) {
	p.once.Do(func() { p.configured <- req })
}

func (p *policyProxy) attach(addr string, stack *pulumirpc.AnalyzerStackConfigureRequest) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(400*1024*1024)))
	if err != nil {
		return err
	}
	p.conn = conn
	p.client = pulumirpc.NewAnalyzerClient(conn)
	if stack != nil {
		if _, err := p.client.ConfigureStack(context.Background(), stack); err != nil && status.Code(err) != codes.Unimplemented {
			return fmt.Errorf("configuring the policy pack: %w", err)
		}
	}
	close(p.ready)
	return nil
}

func (p *policyProxy) wait(ctx context.Context) (pulumirpc.AnalyzerClient, error) {
	p.configure(nil)
	select {
	case <-p.ready:
		return p.client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *policyProxy) Handshake(context.Context, *pulumirpc.AnalyzerHandshakeRequest) (*pulumirpc.AnalyzerHandshakeResponse, error) {
	return &pulumirpc.AnalyzerHandshakeResponse{}, nil
}

func (p *policyProxy) ConfigureStack(_ context.Context, req *pulumirpc.AnalyzerStackConfigureRequest) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	p.configure(req)
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

func (p *policyProxy) Analyze(ctx context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.AnalyzeResponse, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.Analyze(ctx, req)
}

func (p *policyProxy) AnalyzeStack(ctx context.Context, req *pulumirpc.AnalyzeStackRequest) (*pulumirpc.AnalyzeResponse, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.AnalyzeStack(ctx, req)
}

func (p *policyProxy) Remediate(ctx context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.RemediateResponse, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.Remediate(ctx, req)
}

func (p *policyProxy) GetAnalyzerInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.GetAnalyzerInfo(ctx, req)
}

func (p *policyProxy) GetPluginInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.GetPluginInfo(ctx, req)
}

func (p *policyProxy) Configure(ctx context.Context, req *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	c, err := p.wait(ctx)
	if err != nil {
		return nil, err
	}
	return c.Configure(ctx, req)
}

func (p *policyProxy) Cancel(ctx context.Context, req *emptypb.Empty) (*emptypb.Empty, error) {
	select {
	case <-p.ready:
		return p.client.Cancel(ctx, req)
	default:
		return &emptypb.Empty{}, nil
	}
}
