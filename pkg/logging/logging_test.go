package logging

import "testing"

func TestConfig_Validate(t *testing.T) {
	for _, c := range []Config{{"json", "info"}, {"console", "debug"}} {
		if _, err := New(c); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
	for _, c := range []Config{{"xml", "info"}, {"json", "loud"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", c)
		}
	}
}
