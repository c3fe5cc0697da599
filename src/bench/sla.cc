#include "bench/sla.h"

#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace glimpse::bench {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

double unit_scale(const std::string& unit, const std::string& clause) {
  if (unit.empty()) return 1;
  if (unit == "ns") return 1e-9;
  if (unit == "us" || unit == "\u00b5s") return 1e-6;
  if (unit == "ms") return 1e-3;
  if (unit == "s") return 1;
  if (unit == "min") return 60;
  if (unit == "%") return 0.01;
  if (unit == "tok/s" || unit == "req/s" || unit == "/s") return 1;
  fail(ErrorKind::kInvalidArgument,
       "SLA clause '{}': unknown unit '{}' (use ns, us, ms, s, min, %, tok/s, req/s)", clause,
       unit);
}

}  // namespace

bool SlaClause::holds(double measured) const {
  if (op == "<") return measured < value;
  if (op == "<=") return measured <= value;
  if (op == ">") return measured > value;
  if (op == ">=") return measured >= value;
  return measured == value;
}

std::vector<SlaClause> parse_sla(const std::string& spec) {
  std::vector<SlaClause> clauses;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string text = trim(spec.substr(start, end - start));
    start = end + 1;
    if (text.empty()) {
      if (end == spec.size()) break;
      fail(ErrorKind::kInvalidArgument, "SLA '{}': empty clause at character {}", spec, end + 1);
    }
    size_t i = 0;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
      ++i;
    SlaClause c;
    c.text = text;
    c.metric = text.substr(0, i);
    if (c.metric.empty())
      fail(ErrorKind::kInvalidArgument, "SLA clause '{}': expected a metric name first", text);
    while (i < text.size() && text[i] == ' ') ++i;
    for (const char* op : {"<=", ">=", "==", "<", ">"}) {
      if (text.compare(i, std::char_traits<char>::length(op), op) == 0) {
        c.op = op;
        break;
      }
    }
    if (c.op.empty())
      fail(ErrorKind::kInvalidArgument, "SLA clause '{}': expected <, <=, >, >= or == after '{}'",
           text, c.metric);
    i += c.op.size();
    const std::string rest = trim(text.substr(i));
    char* number_end = nullptr;
    const double number = std::strtod(rest.c_str(), &number_end);
    if (number_end == rest.c_str())
      fail(ErrorKind::kInvalidArgument, "SLA clause '{}': expected a number after '{}'", text,
           c.op);
    c.value = number * unit_scale(trim(std::string(number_end)), text);
    clauses.push_back(std::move(c));
  }
  if (clauses.empty()) fail(ErrorKind::kInvalidArgument, "SLA '{}' has no clauses", spec);
  return clauses;
}

std::vector<SlaVerdict> evaluate_sla(
    const std::vector<SlaClause>& clauses,
    const std::function<std::optional<double>(const std::string&)>& lookup) {
  std::vector<SlaVerdict> verdicts;
  for (const auto& c : clauses) {
    SlaVerdict v{c, lookup(c.metric), false};
    v.pass = v.measured.has_value() && c.holds(*v.measured);
    verdicts.push_back(std::move(v));
  }
  return verdicts;
}

}  // namespace glimpse::bench
