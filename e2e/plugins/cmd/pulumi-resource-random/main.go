// pulumi-resource-random: the project's stand-in for pulumi-random 4.21.2, whose provider module
// the Go module proxy here does not serve. It implements the two resources the program uses as
// terraform-provider-random (which pulumi-random bridges) does:
//   - RandomPassword: `length` characters from A-Z, a-z, 0-9 and the specials each unless turned
//     off (`overrideSpecial` replaces the specials), at least min* of each kind; `result` and
//     `bcryptHash` (cost 10) are secrets; the id is "none";
//   - RandomId: `byteLength` random bytes as id (raw URL-safe base64), b64Url, b64Std, hex and
//     dec, each after `prefix`;
//   - defaults are filled before a diff, and any input change replaces; refresh and delete are
//     no-ops, and a preview leaves the generated values unknown.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"

	"platform-e2e/plugins/internal/provider"
)

var version = "4.21.2"

const (
	passwordType = "random:index/randomPassword:RandomPassword"
	idType       = "random:index/randomId:RandomId"
	specials     = "!@#$%&*()-_=+[]{}<>:?"
)

func main() {
	p := &randomProvider{Base: provider.Base{Name: "random", Version: version}}
	provider.Serve(&p.Base, p)
}

type randomProvider struct {
	provider.Base
}

// withDefaults is what the plan holds for the inputs: every default filled in.
func withDefaults(t string, in resource.PropertyMap) (resource.PropertyMap, error) {
	out := provider.Inputs(in).Copy()
	switch t {
	case passwordType:
		for _, k := range []resource.PropertyKey{"special", "upper", "lower"} {
			if _, ok := out[k]; !ok {
				out[k] = resource.NewBoolProperty(true)
			}
		}
		num, hasNum := out["numeric"]
		number, hasNumber := out["number"]
		switch {
		case hasNum && hasNumber && !num.DeepEquals(number):
			return nil, fmt.Errorf("number and numeric are both configured with different values")
		case hasNum:
			out["number"] = num
		case hasNumber:
			out["numeric"] = number
		default:
			out["numeric"], out["number"] = resource.NewBoolProperty(true), resource.NewBoolProperty(true)
		}
		for _, k := range []resource.PropertyKey{"minUpper", "minLower", "minNumeric", "minSpecial"} {
			if _, ok := out[k]; !ok {
				out[k] = resource.NewNumberProperty(0)
			}
		}
		if _, ok := out["length"]; !ok {
			return nil, fmt.Errorf("length is required")
		}
	case idType:
		if _, ok := out["byteLength"]; !ok {
			return nil, fmt.Errorf("byteLength is required")
		}
	default:
		return nil, fmt.Errorf("this stand-in random provider implements only RandomPassword and RandomId, not %s", t)
	}
	return out, nil
}

// generated are the outputs the provider makes, never compared in a diff.
var generated = map[resource.PropertyKey]bool{
	"result": true, "bcryptHash": true, "id": true, "b64Url": true, "b64Std": true, "hex": true, "dec": true,
}

func (p *randomProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := provider.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if _, err := withDefaults(provider.TypeOf(req.GetUrn()), news); err != nil {
		return &pulumirpc.CheckResponse{Failures: []*pulumirpc.CheckFailure{{Reason: err.Error()}}}, nil
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *randomProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	t := provider.TypeOf(req.GetUrn())
	state, err := provider.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := provider.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	planned, err := withDefaults(t, news)
	if err != nil {
		return nil, err
	}
	olds := resource.PropertyMap{}
	for k, v := range provider.Inputs(state) {
		if !generated[k] {
			olds[k] = provider.Plain(v)
		}
	}
	for k, v := range planned {
		planned[k] = provider.Plain(v)
	}
	resp := provider.Diff(olds, planned, func(string) bool { return true })
	if resp.Changes == pulumirpc.DiffResponse_DIFF_NONE {
		resp.HasDetailedDiff = false
		resp.DetailedDiff = nil
	}
	return resp, nil
}

func (p *randomProvider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	t := provider.TypeOf(req.GetUrn())
	inputs, err := provider.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state, err := withDefaults(t, inputs)
	if err != nil {
		return nil, err
	}
	unknown := resource.MakeComputed(resource.NewStringProperty(""))
	id := ""
	switch t {
	case passwordType:
		if req.GetPreview() {
			state["result"], state["bcryptHash"], state["id"] = unknown, unknown, unknown
			break
		}
		result, err := password(state)
		if err != nil {
			return nil, err
		}
		b := []byte(result)
		if len(b) > 72 {
			b = b[:72]
		}
		hash, err := bcrypt.GenerateFromPassword(b, 10)
		if err != nil {
			return nil, err
		}
		id = "none"
		state["result"] = resource.MakeSecret(resource.NewStringProperty(result))
		state["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty(string(hash)))
		state["id"] = resource.NewStringProperty(id)
		state["__meta"] = resource.NewStringProperty(`{"schema_version":"3"}`)
	case idType:
		keys := []resource.PropertyKey{"id", "b64Url", "b64Std", "hex", "dec"}
		if req.GetPreview() {
			for _, k := range keys {
				state[k] = unknown
			}
			break
		}
		n := int(provider.Plain(state["byteLength"]).NumberValue())
		if n < 1 {
			return nil, fmt.Errorf("byteLength must be at least 1 (got %d)", n)
		}
		bytes := make([]byte, n)
		if _, err := rand.Read(bytes); err != nil {
			return nil, err
		}
		prefix := provider.String(state, "prefix")
		id = base64.RawURLEncoding.EncodeToString(bytes)
		state["id"] = resource.NewStringProperty(id)
		state["b64Url"] = resource.NewStringProperty(prefix + id)
		state["b64Std"] = resource.NewStringProperty(prefix + base64.StdEncoding.EncodeToString(bytes))
		state["hex"] = resource.NewStringProperty(prefix + hex.EncodeToString(bytes))
		state["dec"] = resource.NewStringProperty(prefix + new(big.Int).SetBytes(bytes).String())
	}
	props, err := provider.Marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Update never runs for a real change (every change replaces); it keeps the state.
func (p *randomProvider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return &pulumirpc.UpdateResponse{Properties: req.GetOlds()}, nil
}

func (p *randomProvider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func pick(alphabet string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
	if err != nil {
		return 0, err
	}
	return alphabet[i.Int64()], nil
}

// password draws the minimums of each kind first, fills the rest from the whole alphabet, and
// shuffles, as terraform-provider-random's CreateString does.
func password(in resource.PropertyMap) (string, error) {
	flag := func(k resource.PropertyKey) bool { return provider.Plain(in[k]).BoolValue() }
	count := func(k resource.PropertyKey) int { return int(provider.Plain(in[k]).NumberValue()) }
	special := specials
	if s := provider.String(in, "overrideSpecial"); s != "" {
		special = s
	}
	kinds := []struct {
		on       bool
		alphabet string
		min      int
	}{
		{flag("upper"), "ABCDEFGHIJKLMNOPQRSTUVWXYZ", count("minUpper")},
		{flag("lower"), "abcdefghijklmnopqrstuvwxyz", count("minLower")},
		{flag("numeric"), "0123456789", count("minNumeric")},
		{flag("special"), special, count("minSpecial")},
	}
	length := count("length")
	var all string
	var chars []byte
	for _, k := range kinds {
		if !k.on {
			continue
		}
		all += k.alphabet
		for i := 0; i < k.min; i++ {
			c, err := pick(k.alphabet)
			if err != nil {
				return "", err
			}
			chars = append(chars, c)
		}
	}
	if all == "" {
		return "", fmt.Errorf("the character set is empty: turn on at least one of upper, lower, numeric and special")
	}
	if length < 1 || length < len(chars) {
		return "", fmt.Errorf("length must be at least 1 and at least the sum of the minimums (got %d)", length)
	}
	for len(chars) < length {
		c, err := pick(all)
		if err != nil {
			return "", err
		}
		chars = append(chars, c)
	}
	order := make([]uint64, len(chars))
	for i := range order {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		if err != nil {
			return "", err
		}
		order[i] = n.Uint64()
	}
	idx := make([]int, len(chars))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return order[idx[a]] < order[idx[b]] })
	out := make([]byte, len(chars))
	for i, j := range idx {
		out[i] = chars[j]
	}
	return string(out), nil
}
