// runc-capfix runs runc with an OCI spec this machine can honour.
//
// On some VMs the capability bounding set lacks capabilities the kernel knows (CAP_SYS_RESOURCE
// here), and nothing holds CAP_SYS_RESOURCE. Docker 20.10 gives a privileged container every
// capability the kernel knows, and kubelet asks for a negative oom_score_adj for every pod
// sandbox; runc then fails ("unable to apply caps", "can't get final child's PID from pipe").
// This wrapper removes from the spec the capabilities outside its own bounding set and raises a
// negative oomScoreAdj to its own, then execs the real runc with the same arguments.
//
// The real runc is "<this file>.real" when it exists (install the wrapper as `runc` beside it),
// else $RUNC_CAPFIX_REAL, /usr/sbin/runc, /usr/bin/runc.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// globalValueFlags are runc's global options that take a value as the next argument.
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func main() {
	args := os.Args[1:]
	if err := fixSpec(args); err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	real, err := realRunc()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	err = syscall.Exec(real, append([]string{real}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-capfix: exec %s: %v\n", real, err)
	os.Exit(1)
}

func realRunc() (string, error) {
	self, err := os.Executable()
	if err == nil {
		if _, err := os.Stat(self + ".real"); err == nil {
			return self + ".real", nil
		}
	}
	candidates := []string{os.Getenv("RUNC_CAPFIX_REAL"), "/usr/sbin/runc", "/usr/bin/runc"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if resolved, err := filepath.EvalSymlinks(c); err == nil && resolved != self {
			return c, nil
		}
	}
	return "", fmt.Errorf("no real runc found (tried %s.real, %s)", self, strings.Join(candidates[1:], ", "))
}

// fixSpec finds the spec this invocation reads (create/run: <bundle>/config.json; exec: the
// --process file) and rewrites it.
func fixSpec(args []string) error {
	command, rest := subcommand(args)
	switch command {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return rewrite(filepath.Join(bundle, "config.json"), func(doc map[string]any) {
			if process, ok := doc["process"].(map[string]any); ok {
				fixProcess(process)
			}
		})
	case "exec":
		if path := flagValue(rest, "--process", "-p"); path != "" {
			return rewrite(path, fixProcess)
		}
	}
	return nil
}

func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if globalValueFlags[a] {
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
	}
	return "", nil
}

func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if (a == long || a == short) && i+1 < len(args) {
			return args[i+1]
		}
		if strings.HasPrefix(a, long+"=") {
			return strings.TrimPrefix(a, long+"=")
		}
	}
	return ""
}

func rewrite(path string, fix func(map[string]any)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	fix(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

func fixProcess(process map[string]any) {
	if caps, ok := process["capabilities"].(map[string]any); ok {
		held := boundingSet()
		for set, list := range caps {
			names, ok := list.([]any)
			if !ok {
				continue
			}
			kept := make([]any, 0, len(names))
			for _, n := range names {
				if s, ok := n.(string); ok && held[s] {
					kept = append(kept, s)
				}
			}
			caps[set] = kept
		}
	}
	if adj, ok := process["oomScoreAdj"].(float64); ok {
		if own := ownOOMScoreAdj(); adj < float64(own) {
			process["oomScoreAdj"] = own
		}
	}
}

// boundingSet is the set of capability names this process may hold.
func boundingSet() map[string]bool {
	held := map[string]bool{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return held
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return held
		}
		for bit, name := range capNames {
			if mask&(1<<uint(bit)) != 0 {
				held[name] = true
			}
		}
	}
	return held
}

func ownOOMScoreAdj() int {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return v
}
