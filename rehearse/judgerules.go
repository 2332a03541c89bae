package rehearse

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// JudgeRules turns a scenario's judge settings into the report's rules:
// zero fields keep the judge's defaults, and an explicit zero tolerance of
// errors or of outage stays zero.
func JudgeRules(j scenarios.Judge) report.Rules {
	r := report.Rules{MinSamples: j.MinSamples, MaxP99Ratio: j.MaxP99Ratio, MinP99Increase: j.MinP99Increase.Duration, Alpha: j.Alpha}
	if j.MaxErrorRateIncrease != nil {
		r.MaxErrorRateIncrease = *j.MaxErrorRateIncrease
		r.ZeroErrorIncrease = *j.MaxErrorRateIncrease == 0
	}
	if j.MaxOutage != nil {
		r.MaxOutage = j.MaxOutage.Duration
		r.ZeroOutage = j.MaxOutage.Duration == 0
	}
	return r.WithDefaults()
}

// ScenarioLoader loads scenarios checked as a rehearsal needs them: the
// scenario package's own validation, then CheckScenario's rules, each
// problem located at its file, line and field.
func ScenarioLoader() scenarios.Loader {
	return scenarios.Loader{Checks: []scenarios.Check{scenarioProblems}}
}

// CheckScenario checks what the scenario package cannot judge on its own:
// that the judge accepts its thresholds and that a renderer knows each
// report format. A scenario from ScenarioLoader has passed it already; one
// built or changed in code has not.
func CheckScenario(sc *scenarios.Scenario) error {
	errs := scenarioProblems(sc)
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs {
		e.File = "scenario " + sc.Metadata.Name
	}
	return errs
}

// scenarioProblems lists CheckScenario's problems by field.
func scenarioProblems(sc *scenarios.Scenario) scenarios.Errors {
	var errs scenarios.Errors
	if err := JudgeRules(sc.Checks.Judge).Validate(); err != nil {
		// The rules name their field as the scenario does ("maxP99Ratio: ...").
		e := &scenarios.Error{Field: "checks.judge", Msg: err.Error()}
		if field, msg, ok := strings.Cut(err.Error(), ": "); ok && judgeFields()[field] {
			e.Field, e.Msg = "checks.judge."+field, msg
		}
		errs = append(errs, e)
	}
	if l := sc.Ledger.WithDefaults(); sc.Ledger.Enabled {
		n := JudgeRules(sc.Checks.Judge).MinSamples
		span := min(sc.Load.Baseline.Duration, sc.Load.After.Duration)
		if got := int64(l.WriteRate * span.Seconds()); got < n {
			errs = append(errs, &scenarios.Error{Field: "ledger.writeRate", Msg: fmt.Sprintf(
				"%v writes/s over the shorter of load.baseline and load.after (%s) is %d writes, fewer than the %d the judge needs per phase (checks.judge.minSamples)",
				l.WriteRate, span, got, n)})
		}
	}
	for i, f := range sc.Output.Formats {
		if _, err := report.RendererFor(f); err != nil {
			errs = append(errs, &scenarios.Error{Field: fmt.Sprintf("output.formats[%d]", i), Msg: err.Error()})
		}
	}
	return errs
}

// judgeFields are the names of the judge's settings in a scenario file.
func judgeFields() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[scenarios.Judge]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		out[name] = true
	}
	return out
}
