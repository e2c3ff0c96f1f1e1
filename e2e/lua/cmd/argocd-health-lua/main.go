// argocd-health-lua SCRIPT < objects.json: runs a health check script on each object of a JSON
// array, as Argo CD's controller runs resource.customizations.health scripts, and prints a JSON
// array of {status, message}.
//
// What it keeps of Argo CD's behaviour (util/lua/lua.go at v3.4.4): a fresh interpreter per
// object with only the package, base and table libraries open; the object as the global `obj`,
// JSON arrays as sequences and objects as tables; at most one second per run; the value the
// script returns read as a table with `status` and `message`, and a status that is not one of
// Argo CD's health codes reported as Unknown.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

var codes = map[string]bool{
	"Unknown": true, "Progressing": true, "Healthy": true, "Suspended": true, "Degraded": true, "Missing": true,
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func field(t *lua.LTable, name string) string {
	if s, ok := t.RawGetString(name).(lua.LString); ok {
		return string(s)
	}
	return ""
}

func run(script string, obj any) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	switch ret := l.Get(-1).(type) {
	case *lua.LTable:
		h := health{Status: field(ret, "status"), Message: field(ret, "message")}
		if !codes[h.Status] {
			return health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
		}
		return h, nil
	case *lua.LNilType:
		return health{}, nil
	default:
		return health{}, fmt.Errorf("the script returned a %s, not a table", ret.Type())
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health-lua SCRIPT < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var objects []any
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintln(os.Stderr, "objects:", err)
		os.Exit(2)
	}
	out := make([]health, 0, len(objects))
	for i, obj := range objects {
		h, err := run(string(script), obj)
		if err != nil {
			fmt.Fprintf(os.Stderr, "object %d: %v\n", i, err)
			os.Exit(1)
		}
		out = append(out, h)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
