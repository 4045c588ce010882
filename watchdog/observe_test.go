package watchdog

import (
	"testing"
)

const infoReplica = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n\r\n# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:1234\r\nslave_repl_offset:1234\r\nmaster_link_down_since_seconds:7\r\nslave_priority:50\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_repl_offset:1234\r\n"

const infoMaster = "# Server\r\nrun_id:def456\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=99,lag=0\r\nmaster_repl_offset:99\r\n"

func TestApplyInfo(t *testing.T) {
	cases := []struct {
		name string
		info string
		want Obs
	}{
		{"replica with link down", infoReplica, Obs{
			RunID: "abc123", Role: RoleReplica, MasterAddr: "127.0.0.1:6379", LinkUp: false, LastIOSec: -1,
			LinkDownSec: 7, Offset: 1234, Priority: 50,
		}},
		{"master", infoMaster, Obs{RunID: "def456", Role: RoleMaster, Offset: 99, Replicas: 2, LastIOSec: -1, LinkDownSec: -1}},
		{"replica with link up", "role:slave\nmaster_host:h\nmaster_port:1\nmaster_link_status:up\nmaster_last_io_seconds_ago:0\nslave_repl_offset:5\n",
			Obs{Role: RoleReplica, MasterAddr: "h:1", LinkUp: true, LastIOSec: 0, LinkDownSec: -1, Offset: 5, Priority: 100}},
		{"no role", "run_id:x\n", Obs{RunID: "x", Role: RoleUnknown, LastIOSec: -1, LinkDownSec: -1}},
		{"garbage numbers", "role:master\nmaster_repl_offset:lots\nconnected_slaves:-\n", Obs{Role: RoleMaster, LastIOSec: -1, LinkDownSec: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o Obs
			o.ApplyInfo(ParseInfo(c.info))
			if o != c.want {
				t.Fatalf("got  %+v\nwant %+v", o, c.want)
			}
		})
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(infoReplica)
	f.Add(infoMaster)
	f.Add("role:slave\nmaster_host:\nmaster_port:x\n")
	f.Fuzz(func(t *testing.T, s string) {
		var o Obs
		o.ApplyInfo(ParseInfo(s))
		switch o.Role {
		case RoleMaster, RoleReplica, RoleUnknown:
		default:
			t.Fatalf("role %q", o.Role)
		}
	})
}
