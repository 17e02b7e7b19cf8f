package testkit

import (
	"os"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	got, err := ParseVmHWM([]byte("Name:\totsetl\nVmPeak:\t 1268956 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n"))
	if err != nil || got != 51200*1024 {
		t.Errorf("ParseVmHWM = %d, %v; want %d", got, err, 51200*1024)
	}
	for status, want := range map[string]string{
		"Name:\totsetl\n":  "no VmHWM line in the process status",
		"VmHWM:\t 12 MB\n": `VmHWM "12 MB" is not in kB`,
		"VmHWM:\t x kB\n":  `VmHWM "x kB": strconv.ParseInt: parsing "x": invalid syntax`,
	} {
		if _, err := ParseVmHWM([]byte(status)); err == nil || err.Error() != want {
			t.Errorf("ParseVmHWM(%q) = %v, want %q", status, err, want)
		}
	}
}

func TestPeakRSSOfThisProcess(t *testing.T) {
	peak, err := PeakRSS(os.Getpid())
	if _, statErr := os.Stat("/proc/self/status"); statErr != nil {
		if err == nil {
			t.Fatal("PeakRSS succeeded without /proc")
		}
		t.Skip("no /proc here")
	}
	if err != nil || peak < 1<<20 {
		t.Errorf("PeakRSS(self) = %d, %v; want at least a MB", peak, err)
	}
}
