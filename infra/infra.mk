# Infrastructure targets, included by the Makefile (which defines PYTHON, VENV, BIN, STAMP).
#
#   make package [LAMBDA_PYTHON=...]      -> dist/lambda.zip (detector/ + slack-sdk + tenacity,
#                                            with bytecode compiled by CPython 3.13)
#   make lint-infra                       -> cfn-lint and checkov on infra/*.yaml
#   make deploy ARTIFACT_BUCKET=... [SLACK_CHANNEL_ID=... SLACK_SECRET_ARN=... ORGANIZATION_ID=...]
#
# Deploy variables (see "Deploying to AWS" in README.md for the whole table):
STACK_NAME ?= root-key-detector
ARTIFACT_BUCKET ?=
ARTIFACT_PREFIX ?= root-key-detector
SLACK_MODE ?= bot
SLACK_CHANNEL_ID ?=
SLACK_TOKEN_SECRET_ARN ?=
SLACK_SECRET_ARN ?= $(SLACK_TOKEN_SECRET_ARN)
ORGANIZATION_ID ?=
MEMBER_ROLE_NAME ?= root-key-detector-member
FORWARD_ROLE_NAME ?= root-key-detector-forward
ALARM_EMAIL ?=
CREATE_TRAIL ?= false
RESERVED_CONCURRENCY ?= 5
LOG_LEVEL ?= INFO
SCHEDULE_EXPRESSION ?= rate(1 day)
SWEEP_ACCOUNTS ?=
SWEEP_CONCURRENCY ?= 32
FUNCTION_TIMEOUT ?= 300
FUNCTION_MEMORY ?= 1024
DEPLOY_REGION := us-east-1
# The CPython 3.13 (the Lambda runtime's version) that compiles the zip's bytecode. Empty: the
# first that works of python3.13 on PATH and pyenv's versions/3.13*; package.py says what to
# install if none does. `make test` uses the same one (the package test reads LAMBDA_PYTHON).
LAMBDA_PYTHON ?=

CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CFN_LINT_STAMP := $(VENV)/.cfn-lint-$(CFN_LINT_VERSION)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
INFRA_TEMPLATES := infra/detector.yaml infra/member.yaml
LAMBDA_ZIP := dist/lambda.zip

.PHONY: package lint-infra deploy

package: $(STAMP) ## Build dist/lambda.zip (detector + deps + 3.13 bytecode, arm64; no boto3)
	$(BIN)/python infra/package.py --out $(LAMBDA_ZIP) $(if $(LAMBDA_PYTHON),--python '$(LAMBDA_PYTHON)')

$(CFN_LINT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check cfn-lint==$(CFN_LINT_VERSION)
	@touch $@

# checkov pins old versions of common libraries: it gets a venv of its own.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

lint-infra: $(CFN_LINT_STAMP) $(CHECKOV_STAMP) ## cfn-lint and checkov on the CloudFormation templates
	$(BIN)/cfn-lint -- $(INFRA_TEMPLATES)
	@echo "cfn-lint $(CFN_LINT_VERSION): $(INFRA_TEMPLATES): no errors, no warnings"
	@# checkov drops resources whose Condition is false under the parameter defaults: lint copies
	@# of the templates whose defaults switch every optional resource on as well.
	$(PYTHON) infra/lint_variants.py build/infra-lint
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		-f infra/detector.yaml -f infra/member.yaml \
		-f build/infra-lint/detector.all-optional-resources.yaml \
		-f build/infra-lint/member.all-optional-resources.yaml

deploy: ## Deploy infra/detector.yaml to us-east-1 (needs aws CLI, credentials, ARTIFACT_BUCKET)
	@command -v aws >/dev/null 2>&1 || { echo "make deploy: the AWS CLI ('aws') is not installed. Install it (e.g. 'pipx install awscli' or AWS's installer) and configure credentials; it is not part of the project venv." >&2; exit 1; }
	@aws sts get-caller-identity --region $(DEPLOY_REGION) >/dev/null 2>&1 || { echo "make deploy: no usable AWS credentials ('aws sts get-caller-identity' failed). Configure them (aws configure / aws sso login / AWS_PROFILE=...) and retry." >&2; exit 1; }
	@test -n "$(ARTIFACT_BUCKET)" || { echo "make deploy: set ARTIFACT_BUCKET=<an S3 bucket in $(DEPLOY_REGION) you can write> for the Lambda zip." >&2; exit 1; }
	@test "$(SLACK_MODE)" != bot || test -n "$(SLACK_CHANNEL_ID)" || { echo "make deploy: SLACK_MODE=bot needs SLACK_CHANNEL_ID=C0123ABCD (or SLACK_MODE=webhook / disabled)." >&2; exit 1; }
	@$(MAKE) --no-print-directory package
	@set -euo pipefail; \
	sha=$$(sha256sum $(LAMBDA_ZIP) | cut -c1-64); \
	key="$(ARTIFACT_PREFIX)/lambda-$$sha.zip"; \
	echo "uploading $(LAMBDA_ZIP) to s3://$(ARTIFACT_BUCKET)/$$key"; \
	aws s3 cp --region $(DEPLOY_REGION) --only-show-errors $(LAMBDA_ZIP) "s3://$(ARTIFACT_BUCKET)/$$key"; \
	aws cloudformation deploy --region $(DEPLOY_REGION) \
		--stack-name $(STACK_NAME) \
		--template-file infra/detector.yaml \
		--s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(ARTIFACT_PREFIX)/templates \
		--capabilities CAPABILITY_IAM \
		--no-fail-on-empty-changeset \
		--parameter-overrides \
			"CodeBucket=$(ARTIFACT_BUCKET)" "CodeKey=$$key" \
			"SlackMode=$(SLACK_MODE)" "SlackChannelId=$(SLACK_CHANNEL_ID)" \
			"SlackSecretArn=$(SLACK_SECRET_ARN)" \
			"OrganizationId=$(ORGANIZATION_ID)" "MemberRoleName=$(MEMBER_ROLE_NAME)" \
			"ForwardRoleName=$(FORWARD_ROLE_NAME)" \
			"AlarmEmail=$(ALARM_EMAIL)" "CreateTrail=$(CREATE_TRAIL)" \
			"ReservedConcurrency=$(RESERVED_CONCURRENCY)" "LogLevel=$(LOG_LEVEL)" \
			"ScheduleExpression=$(SCHEDULE_EXPRESSION)" "SweepAccounts=$(SWEEP_ACCOUNTS)" \
			"SweepConcurrency=$(SWEEP_CONCURRENCY)" \
			"FunctionTimeout=$(FUNCTION_TIMEOUT)" "FunctionMemory=$(FUNCTION_MEMORY)"; \
	aws cloudformation describe-stacks --region $(DEPLOY_REGION) --stack-name $(STACK_NAME) \
		--query 'Stacks[0].Outputs' --output table
