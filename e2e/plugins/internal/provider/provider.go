// Package provider holds what the stand-in resource providers share: property (un)marshalling
// with secrets and unknowns kept, the provider-level RPCs of a provider without config, and
// status lines sent to the engine beside a resource.
package provider

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"platform-e2e/plugins/internal/serve"
)

var keep = plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true, KeepResources: true, KeepOutputValues: true}

// Unmarshal reads a property struct, keeping secrets and unknowns as they came.
func Unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, keep)
}

// Marshal writes a property map, keeping secrets and unknowns.
func Marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, keep)
}

// Plain is a value with every secret marker removed, for running with it.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsArray():
		out := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			out[i] = Plain(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			out[k] = Plain(e)
		}
		return resource.NewObjectProperty(out)
	}
	return v
}

// String is the plain string under key, or "" when it is absent or not a string.
func String(m resource.PropertyMap, key resource.PropertyKey) string {
	v, ok := m[key]
	if !ok {
		return ""
	}
	v = Plain(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// Inputs drops the keys the engine and frameworks keep for themselves (`__meta`, `__defaults`, ...).
func Inputs(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if !strings.HasPrefix(string(k), "__") {
			out[k] = v
		}
	}
	return out
}

// ChangedKeys are the top-level keys whose values differ (a secret and a plain copy of the same
// value differ, as they do for the upstream providers).
func ChangedKeys(olds, news resource.PropertyMap) []string {
	var keys []string
	seen := map[resource.PropertyKey]bool{}
	for k, v := range news {
		seen[k] = true
		if o, ok := olds[k]; !ok || !o.DeepEquals(v) {
			keys = append(keys, string(k))
		}
	}
	for k := range olds {
		if !seen[k] {
			keys = append(keys, string(k))
		}
	}
	return keys
}

// TypeOf is the resource type token of a URN (`command:local:Command`).
func TypeOf(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 3 {
		return ""
	}
	types := strings.Split(parts[2], "$")
	return types[len(types)-1]
}

// Serve runs a provider: the plugin command line, a connection to the engine for status lines,
// and the gRPC server until the engine is gone.
func Serve(base *Base, server pulumirpc.ResourceProviderServer) {
	args := serve.Parse(base.Version)
	if err := base.Connect(args.Engine); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serve.Run(args.Engine, func(s *grpc.Server) { pulumirpc.RegisterResourceProviderServer(s, server) })
}

// Base implements the provider-level RPCs of a provider that takes no configuration.
type Base struct {
	pulumirpc.UnimplementedResourceProviderServer
	Name, Version string
	// AcceptSecrets: whether the engine may send secrets in requests (see Configure).
	AcceptSecrets bool
	engine        pulumirpc.EngineClient
}

// Connect dials the engine, for status lines.
func (b *Base) Connect(engine string) error {
	if engine == "" {
		return nil
	}
	conn, err := grpc.NewClient(engine, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	b.engine = pulumirpc.NewEngineClient(conn)
	return nil
}

// Status shows a line beside the resource while it runs (an ephemeral info message, as upstream).
func (b *Base) Status(urn, line string) {
	if b.engine == nil {
		return
	}
	_, _ = b.engine.Log(context.Background(), &pulumirpc.LogRequest{
		Severity: pulumirpc.LogSeverity_INFO, Message: line, Urn: urn, Ephemeral: true,
	})
}

func (b *Base) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: b.Version}, nil
}

func (b *Base) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, b.Name, b.Version)}, nil
}

func (b *Base) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (b *Base) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (b *Base) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: b.AcceptSecrets, SupportsPreview: true, AcceptResources: true, AcceptOutputs: b.AcceptSecrets}, nil
}

func (b *Base) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Check accepts the inputs as they are (neither upstream provider fills defaults in Check).
func (b *Base) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// Read returns the state unchanged: refresh is a no-op for both providers.
func (b *Base) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// Diff is a detailed diff of top-level keys; those in replaceOn force a replacement.
func Diff(olds, news resource.PropertyMap, replaceOn func(key string) bool) *pulumirpc.DiffResponse {
	changed := ChangedKeys(Inputs(olds), Inputs(news))
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true, DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	for _, k := range changed {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Diffs = append(resp.Diffs, k)
		kind := pulumirpc.PropertyDiff_UPDATE
		_, inOld := olds[resource.PropertyKey(k)]
		_, inNew := news[resource.PropertyKey(k)]
		switch {
		case !inOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !inNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if replaceOn(k) {
			resp.Replaces = append(resp.Replaces, k)
			kind++ // ADD→ADD_REPLACE, DELETE→DELETE_REPLACE, UPDATE→UPDATE_REPLACE
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind}
	}
	return resp
}
