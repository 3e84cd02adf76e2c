"""What vulture reports as unused in detector/ but is used where it cannot see (`make lint`).

Each entry says who uses it. vulture reads this file and never runs it. Dead code does not
belong here: remove it instead (entries under "to remove" wait for their files' owners).
"""

# pyright: reportUndefinedVariable=false
# ruff: noqa: B018, F821

# Entry points and overrides that outside code calls by name.
lambda_handler  # detector/handler.py: the Lambda runtime calls it (Handler in infra/detector.yaml)
_.format  # detector/log.py: logging.Formatter.format, called by the logging module
event_pattern_json  # detector/pattern.py: sandbox/stack.py puts the rule with it
IMPORTED_PATTERN  # detector/domain/hub_change.py: the template's rule (test_pattern_contract)
UPDATED_PATTERN  # detector/domain/hub_change.py: the template's rule and sandbox/stack.py's
ROOT_ACCESS_PATTERN  # detector/pattern.py: the templates' root access rules (test_pattern_contract)
ALL_MANAGEMENT_EVENTS  # detector/pattern.py: those rules' State (test_pattern_contract)

# Used in ways vulture does not read.
SecurityHubClient  # detector/adapters/securityhub.py: a string annotation (a TYPE_CHECKING import)

# Public helpers the tests and the benchmarks build with (the product has its own paths).
parse_event  # detector/domain/event.py: one record -> its event; the tests' entry to the parser
first_observation  # detector/domain/finding.py: a first event's FindingContext (tests, bench/fuzz)
emitted_names  # detector/metrics.py: every metric name; the template tests tie the dashboard to it
MAX_METRICS  # detector/metrics.py: EMF's per-directive limit, which the metric tests hold it to

# The configuration table's source: what README's table and the template are checked against
# (tests/infra/test_config_agreement.py); Settings itself needs neither.
markdown_table  # detector/config.py: README's table, generated
_.parameter  # detector/config.py: Variable.parameter, the template parameter that sets it
