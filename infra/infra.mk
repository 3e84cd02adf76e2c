# Infrastructure targets, included by the Makefile (which defines PYTHON, VENV, BIN, STAMP).
#
#   make package [LAMBDA_PYTHON=...]      -> dist/lambda.zip (detector/ + slack-sdk + tenacity,
#                                            with bytecode compiled by CPython 3.13)
#   make lint-infra                       -> cfn-lint and checkov on infra/*.yaml
#   make plan ARTIFACT_BUCKET=... [...]   -> a CloudFormation change set, printed, not executed
#   make deploy ARTIFACT_BUCKET=... [SLACK_CHANNEL_ID=... SLACK_SECRET_ARN=... ORGANIZATION_ID=...]
#                                         [TAGS="k=v ..." CFN_ROLE_ARN=arn:aws:iam::...:role/...]
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
HEARTBEAT_HOURS ?= 26
CREATE_TRAIL ?= false
RESERVED_CONCURRENCY ?= 5
LOG_LEVEL ?= INFO
FINDING_SEVERITY ?= MEDIUM
SLACK_INTERACTIVITY ?= false
SLACK_SIGNING_SECRET_ARN ?=
SLACK_TEAM_ID ?=
SLACK_RESPONDERS ?=
SLACK_RESPONDER_GROUP ?=
SCHEDULE_EXPRESSION ?= rate(1 day)
SWEEP_ACCOUNTS ?=
SWEEP_CONCURRENCY ?= 32
FUNCTION_TIMEOUT ?= 300
FUNCTION_MEMORY ?= 1024
CENTRALIZED_ROOT_ACCESS ?= false
ROOT_ACCESS_ROLE_ARN ?=
ROOT_REMOVAL_ROLE_ARN ?=
ROOT_KEY_REMOVAL ?= false
ROOT_KEY_REMOVAL_DRY_RUN ?= true
ROOT_ACCESS_RESERVED_CONCURRENCY ?= 2
# Change control: tags for the stack and (CloudFormation propagates them) its resources, e.g.
# TAGS="team=sec cost-center=42"; the service role CloudFormation deploys with, if any.
TAGS ?=
CFN_ROLE_ARN ?=
# The CPython 3.13 (the Lambda runtime's version) that compiles the zip's bytecode. Empty: the
# first that works of python3.13 on PATH and pyenv's versions/3.13*; package.py says what to
# install if none does. `make test` uses the same one (the package test reads LAMBDA_PYTHON).
LAMBDA_PYTHON ?=

CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CFN_LINT_STAMP := $(VENV)/.cfn-lint-$(CFN_LINT_VERSION)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
INFRA_TEMPLATES := infra/detector.yaml infra/member.yaml infra/root-access.yaml
LAMBDA_ZIP ?= dist/lambda.zip
PACKAGE_BUILD_DIR ?= build/lambda

.PHONY: package lint-infra plan deploy

package: $(STAMP) ## Build dist/lambda.zip (detector + deps + 3.13 bytecode, arm64; no boto3)
	$(BIN)/python infra/package.py --out '$(LAMBDA_ZIP)' --build-dir '$(PACKAGE_BUILD_DIR)' $(if $(LAMBDA_PYTHON),--python '$(LAMBDA_PYTHON)')

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
		$(foreach t,$(INFRA_TEMPLATES),-f $(t)) \
		-f build/infra-lint/detector.all-optional-resources.yaml \
		-f build/infra-lint/member.all-optional-resources.yaml \
		-f build/infra-lint/root-access.all-optional-resources.yaml

# The parameters make plan / make deploy give the template (CodeBucket and CodeKey come from
# ARTIFACT_BUCKET and the zip's hash); infra/deploy.py checks each against the template first.
DEPLOY_ARGS = --stack-name '$(STACK_NAME)' --bucket '$(ARTIFACT_BUCKET)' --prefix '$(ARTIFACT_PREFIX)' \
	--tags '$(TAGS)' --role-arn '$(CFN_ROLE_ARN)' \
	--parameter 'SlackMode=$(SLACK_MODE)' --parameter 'SlackChannelId=$(SLACK_CHANNEL_ID)' \
	--parameter 'SlackSecretArn=$(SLACK_SECRET_ARN)' \
	--parameter 'OrganizationId=$(ORGANIZATION_ID)' --parameter 'MemberRoleName=$(MEMBER_ROLE_NAME)' \
	--parameter 'ForwardRoleName=$(FORWARD_ROLE_NAME)' \
	--parameter 'AlarmEmail=$(ALARM_EMAIL)' --parameter 'HeartbeatHours=$(HEARTBEAT_HOURS)' \
	--parameter 'CreateTrail=$(CREATE_TRAIL)' \
	--parameter 'ReservedConcurrency=$(RESERVED_CONCURRENCY)' --parameter 'LogLevel=$(LOG_LEVEL)' \
	--parameter 'FindingSeverity=$(FINDING_SEVERITY)' \
	--parameter 'SlackInteractivity=$(SLACK_INTERACTIVITY)' \
	--parameter 'SlackSigningSecretArn=$(SLACK_SIGNING_SECRET_ARN)' \
	--parameter 'SlackTeamId=$(SLACK_TEAM_ID)' --parameter 'SlackResponders=$(SLACK_RESPONDERS)' \
	--parameter 'SlackResponderGroup=$(SLACK_RESPONDER_GROUP)' \
	--parameter 'ScheduleExpression=$(SCHEDULE_EXPRESSION)' \
	--parameter 'SweepAccounts=$(SWEEP_ACCOUNTS)' --parameter 'SweepConcurrency=$(SWEEP_CONCURRENCY)' \
	--parameter 'FunctionTimeout=$(FUNCTION_TIMEOUT)' --parameter 'FunctionMemory=$(FUNCTION_MEMORY)' \
	--parameter 'CentralizedRootAccess=$(CENTRALIZED_ROOT_ACCESS)' \
	--parameter 'RootAccessRoleArn=$(ROOT_ACCESS_ROLE_ARN)' \
	--parameter 'RootRemovalRoleArn=$(ROOT_REMOVAL_ROLE_ARN)' \
	--parameter 'RootKeyRemoval=$(ROOT_KEY_REMOVAL)' \
	--parameter 'RootKeyRemovalDryRun=$(ROOT_KEY_REMOVAL_DRY_RUN)' \
	--parameter 'RootAccessReservedConcurrency=$(ROOT_ACCESS_RESERVED_CONCURRENCY)'

# Parameters and credentials are checked before anything is built or uploaded.
plan: $(STAMP) ## Create and print a CloudFormation change set of the stack, without executing it
	@$(BIN)/python infra/deploy.py check $(DEPLOY_ARGS)
	@$(MAKE) --no-print-directory package
	@$(BIN)/python infra/deploy.py plan --zip '$(LAMBDA_ZIP)' $(DEPLOY_ARGS)

deploy: $(STAMP) ## Deploy infra/detector.yaml to us-east-1 (needs aws CLI, credentials, ARTIFACT_BUCKET)
	@$(BIN)/python infra/deploy.py check $(DEPLOY_ARGS)
	@$(MAKE) --no-print-directory package
	@$(BIN)/python infra/deploy.py deploy --zip '$(LAMBDA_ZIP)' $(DEPLOY_ARGS)
