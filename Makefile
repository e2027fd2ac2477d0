# Two commands do all the set-up on a fresh machine (only Python 3.11+ and make needed):
#   make demo   the golden path so far, on bundled real data, with the embedded stores
#   make test   lint, format check, type check and the whole test suite

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
GP     := $(BIN)/goldenpath
DEMO   ?= build/demo
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck unit bench clean gbstats-reference

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $@ $(VENV)/.installed

# The demo acts as three people: you (the first user of the new store, so its admin), alice
# (a developer who gates and promotes) and bob (an approver), the last two with tokens, because
# the telco example's risk tier (high) asks for a proven second person on a champion.
DEMO_GIT = git -c user.name=goldenpath-demo -c user.email=demo@example.com
ALICE = GOLDENPATH_TOKEN=$$(cat ../alice.token)
BOB = GOLDENPATH_TOKEN=$$(cat ../bob.token)
DEMO_PORT ?= 8765

demo: $(VENV)/.installed
	rm -rf $(DEMO)
	$(GP) init $(DEMO)/my-churn --example telco-churn
	@# risk tier high: the gates ask for a clean git tree
	cd $(DEMO)/my-churn && git init -q && git add -A && $(DEMO_GIT) commit -qm "telco churn example"
	cd $(DEMO)/my-churn && $(GP) validate
	cd $(DEMO)/my-churn && $(GP) train
	cd $(DEMO)/my-churn && $(GP) runs
	cd $(DEMO)/my-churn && $(GP) reproduce latest
	cd $(DEMO)/my-churn && $(GP) evaluate telco-churn/1
	@echo "--- people: alice (developer) and bob (approver), each with a token shown once"
	cd $(DEMO)/my-churn && $(GP) users add alice --role developer
	cd $(DEMO)/my-churn && $(GP) users add bob --role approver
	cd $(DEMO)/my-churn && (umask 077 && $(GP) users token create alice --expires 1d > ../alice.token)
	cd $(DEMO)/my-churn && (umask 077 && $(GP) users token create bob --expires 1d > ../bob.token)
	cd $(DEMO)/my-churn && $(ALICE) $(GP) whoami
	@echo "--- change control of the gates (risk tier high): gating before they are approved is refused (expected):"
	cd $(DEMO)/my-churn && ! $(ALICE) $(GP) gate telco-churn/1
	cd $(DEMO)/my-churn && $(ALICE) $(GP) gates propose
	cd $(DEMO)/my-churn && $(BOB) $(GP) gates approve latest --comment "thresholds match the model risk policy"
	cd $(DEMO)/my-churn && $(GP) gates list
	@echo "--- gates weakened in goldenpath.yaml without a commit are refused (expected):"
	cd $(DEMO)/my-churn && sed -i 's/roc_auc: {min: 0.80, on: ci_low}/roc_auc: {min: 0.50, on: ci_low}/' goldenpath.yaml
	cd $(DEMO)/my-churn && ! $(ALICE) $(GP) gate telco-churn/1
	cd $(DEMO)/my-churn && git checkout -q -- goldenpath.yaml
	cd $(DEMO)/my-churn && $(ALICE) $(GP) gate telco-churn/1
	@echo "--- promoting without a second person's approval is refused (expected):"
	cd $(DEMO)/my-churn && ! $(ALICE) $(GP) promote telco-churn/1 --to champion
	@echo "--- approving as the OS user, whom no token proves, is refused for a high-risk model (expected):"
	cd $(DEMO)/my-churn && ! $(GP) approve telco-churn/1
	cd $(DEMO)/my-churn && $(BOB) $(GP) approve telco-churn/1 --comment "evidence reviewed"
	cd $(DEMO)/my-churn && $(ALICE) $(GP) promote telco-churn/1 --to champion --reason "first model"
	@echo "--- a second candidate: logistic regression, judged against the champion"
	cd $(DEMO)/my-churn && sed -i 's/model: hist_gradient_boosting/model: logistic_regression/' goldenpath.yaml
	cd $(DEMO)/my-churn && $(DEMO_GIT) commit -qam "try logistic regression"
	cd $(DEMO)/my-churn && $(GP) train
	cd $(DEMO)/my-churn && $(GP) reproduce latest
	cd $(DEMO)/my-churn && $(GP) evaluate telco-churn/2 --against champion
	cd $(DEMO)/my-churn && $(ALICE) $(GP) gate telco-churn/2
	cd $(DEMO)/my-churn && $(BOB) $(GP) approve telco-churn/2 --comment "no regression"
	cd $(DEMO)/my-churn && $(ALICE) $(GP) promote telco-churn/2 --to champion --reason "simpler model"
	cd $(DEMO)/my-churn && $(GP) card telco-churn/2
	cd $(DEMO)/my-churn && $(GP) rollback --reason "demo: back to the previous champion"
	cd $(DEMO)/my-churn && $(GP) history --check
	cd $(DEMO)/my-churn && $(GP) audit verify
	@echo "--- a row written in the database directly is caught: alice made admin in a copy of the store (expected: exit 77)"
	cd $(DEMO)/my-churn && cp .goldenpath/goldenpath.db ../tampered.db
	cd $(DEMO)/my-churn && $(BIN)/python -c "import sqlite3; db = sqlite3.connect('../tampered.db'); db.execute(\"UPDATE gp_users SET role = 'admin' WHERE name = 'alice'\"); db.commit()"
	cd $(DEMO)/my-churn && ! GOLDENPATH_STORE_URI=sqlite:///$$PWD/../tampered.db $(GP) audit verify
	cd $(DEMO)/my-churn && ! GOLDENPATH_STORE_URI=sqlite:///$$PWD/../tampered.db $(ALICE) $(GP) users add mallory --role admin
	@echo "--- a signed checkpoint anchors the chain's head: its key and the checkpoints live outside the project"
	cd $(DEMO)/my-churn && $(GP) audit keygen --out ../checkpoint.key
	cd $(DEMO)/my-churn && $(GP) audit checkpoint --key ../checkpoint.key --out ../checkpoints
	cd $(DEMO)/my-churn && $(GP) audit verify --checkpoint ../checkpoints --public-key ../checkpoint.key.pub
	@echo "--- serving: champion with a canary challenger, replayed traffic, a hot swap on promotion"
	@echo "--- the service asks for API clients' tokens (serving.auth: token); the demo's client may predict, give feedback and read metrics"
	cd $(DEMO)/my-churn && sed -i 's/^serving:$$/serving:\n  auth: token/' goldenpath.yaml
	cd $(DEMO)/my-churn && (umask 077 && $(GP) clients create demo-shop --scope predict --scope feedback --scope metrics --expires 1d > ../client.token)
	cd $(DEMO)/my-churn && $(ALICE) $(BIN)/python $(abspath scripts/demo_serving.py) $(GP) $(DEMO_PORT)
	@# monitoring: two phases of traffic, the second shifted; monitor after each
	cd $(DEMO)/my-churn && $(BIN)/python $(abspath scripts/demo_monitoring.py) $(GP) $(DEMO_PORT)
	@echo "--- an online experiment on replayed traffic (revenue as feedback), then a bad canary rolled back by a guardrail"
	cd $(DEMO)/my-churn && $(BIN)/python $(abspath scripts/demo_experiment.py) $(GP) $(DEMO_PORT)
	@echo "Demo project: $(DEMO)/my-churn (MLflow store in .goldenpath/mlflow.db, goldenpath store in .goldenpath/goldenpath.db)"
	@echo "--- a second project from your own data: init --from a CSV export (credit scoring, with missing values), then your own code"
	$(BIN)/python scripts/demo_own_data.py write-data $(DEMO)/data/credit.csv
	$(GP) init $(DEMO)/own-data --from $(DEMO)/data/credit.csv --target Status
	$(BIN)/python scripts/demo_own_data.py own-code $(DEMO)/own-data
	cd $(DEMO)/own-data && $(GP) validate
	cd $(DEMO)/own-data && $(GP) train
	cd $(DEMO)/own-data && $(GP) evaluate own-data/1
	@# risk tier low: a passing decision is all a champion needs; you are the admin of this project's new store
	cd $(DEMO)/own-data && $(GP) gate own-data/1
	cd $(DEMO)/own-data && $(GP) promote own-data/1 --to champion --reason "first model on our own data"
	@echo "Own-data project: $(DEMO)/own-data (made by init --from $(DEMO)/data/credit.csv; its code: credit_model.py and mylib/)"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

test: lint typecheck
	$(BIN)/python scripts/gbstats_reference.py --check
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

# GrowthBook's stats engine on fixed A/B inputs, in its own venv (build/bench-venvs/gbstats,
# about 25 s to build the first time): rewrites tests/data/gbstats_reference.json
gbstats-reference: $(VENV)/.installed-dev
	$(BIN)/python scripts/gbstats_reference.py

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/evaluation.py
	$(BIN)/python benchmarks/monitoring.py --scale
	$(BIN)/python benchmarks/serving.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
