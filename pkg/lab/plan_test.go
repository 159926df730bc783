package lab

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/config"
)

func TestPlanDefaultLab(t *testing.T) {
	cfg := config.Default()
	svcs := Plan(cfg, "/data/lab.yaml", PlanOptions{})
	var roles []string
	for _, s := range svcs {
		roles = append(roles, s.Role+"/"+s.Name)
		assert.Equal(t, []string{"-c", "/data/lab.yaml", "--log-level", "info", "--log-format", "text"}, s.Args[:6])
	}
	assert.Equal(t, []string{
		"recorder/rec1", "recorder/rec2", "resourcemanager/rm", "mediaserver/ms1", "mediaserver/ms2", "sipserver/sipserver",
		"phone/phone-7001", "phone/phone-7002", "phone/phone-7003", "phone/phone-7004", "phone/phone-7005", "phone/phone-7100",
	}, roles, "dependencies start first; the routing point gets no phone")
	assert.Equal(t, "http://127.0.0.1:8090/healthz", svcs[0].Health)
	assert.Equal(t, []string{"phone", "--dn", "7001", "--register", "sip:127.0.0.1:5060", "--host", "127.0.0.1"}, svcs[6].Args[6:])

	noPhones := Plan(cfg, "x", PlanOptions{NoPhones: true, LogLevel: "debug"})
	require.Len(t, noPhones, 6)
	assert.Equal(t, "debug", noPhones[0].Args[3])
	assert.Len(t, Ports(cfg), 25, "udp and tcp on one port are listed per transport")
}
