// Runs Argo CD health checks written in Lua the way Argo CD v3.4.4's controller does, on the same
// interpreter (gopher-lua, the version Argo CD's go.mod pins), for the e2e. The project's own
// code, written to the behaviour of util/lua in Argo CD.
module platform-e2e/lua

go 1.26.3

require github.com/yuin/gopher-lua v1.1.1
