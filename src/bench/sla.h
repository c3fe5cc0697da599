// Service-level objectives for `glimpse bench --sla "ttft_p90<100ms,tpot_p50<20ms,rps>=50"`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace glimpse::bench {

struct SlaClause {
  std::string metric;  // e.g. "ttft_p90", "tpot_p50", "rps", "e2e_mean"
  std::string op;      // "<", "<=", ">", ">=", "=="
  double value = 0;    // in base units: seconds for durations, plain numbers otherwise
  std::string text;    // the clause as written, for reports
  bool holds(double measured) const;
};

// Parses a comma-separated list of clauses. Durations take a unit (ns, us, µs, ms, s, min);
// throws Error(kInvalidArgument) naming the clause and the position of the problem.
std::vector<SlaClause> parse_sla(const std::string& spec);

struct SlaVerdict {
  SlaClause clause;
  std::optional<double> measured;  // empty when the run did not produce that metric
  bool pass = false;
};

// `lookup(metric)` returns the measured value in base units, or nullopt when unknown.
std::vector<SlaVerdict> evaluate_sla(
    const std::vector<SlaClause>& clauses,
    const std::function<std::optional<double>(const std::string&)>& lookup);

}  // namespace glimpse::bench
