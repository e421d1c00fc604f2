# quotaform as a Terraform provider, beside hashicorp/aws.
#
# The analytics workers stop their own plan with a precondition when they
# would take the analytics pool over its quota, and the nightly instance takes
# its type from the rightsizing recommendation of its pool.
#
#   quotaform provider install      # once: the provider launcher, see README
#   terraform init && terraform plan
#
# quotaform.json beside this file declares the pools and quotas; a CDKTF app
# writes it with 'quotaform synth'.

terraform {
  required_version = ">= 1.8" # provider functions
  required_providers {
    aws       = { source = "hashicorp/aws", version = "~> 5.0" }
    quotaform = { source = "quotaform/quotaform", version = "~> 0.1" }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "aws_endpoint" {
  type        = string
  default     = null
  description = "AWS endpoint for quotaform, such as a local moto server; null for AWS."
}

variable "analytics_workers" {
  type    = number
  default = 1
}

variable "worker_type" {
  type    = string
  default = "m5.xlarge"
}

variable "pin_nightly_type" {
  type        = bool
  default     = false
  description = "Keep the nightly instance's type until a reviewer accepts a recommendation."
}

variable "accepted_nightly_type" {
  type    = string
  default = null
}

provider "aws" {
  region = var.region
}

provider "quotaform" {
  region   = var.region
  endpoint = var.aws_endpoint
  config   = "${path.module}/quotaform.json"
}

locals {
  stack_tag = { "quotaform:stack" = "provider-example" }
  analytics_tags = merge(local.stack_tag, {
    "quotaform:pool" = "analytics"
    "quotaform:team" = "data"
  })
  worker_vcpu         = var.analytics_workers * provider::quotaform::vcpus(var.worker_type)
  worker_monthly_cost = var.analytics_workers * provider::quotaform::monthly_cost(var.worker_type, var.region)
}

# The pool's quota and what runs in it now, leaving out the workers below:
# their planned count is added in the preconditions instead.
data "quotaform_pool" "analytics" {
  name         = "analytics"
  exclude_tags = local.stack_tag
}

resource "aws_instance" "analytics_worker" {
  count         = var.analytics_workers
  ami           = "ami-12c6146b"
  instance_type = var.worker_type
  tags          = local.analytics_tags

  lifecycle {
    precondition {
      condition     = var.analytics_workers <= data.quotaform_pool.analytics.headroom_instances
      error_message = "Pool analytics has room for ${data.quotaform_pool.analytics.headroom_instances} more instances (quota ${data.quotaform_pool.analytics.max_instances}, ${data.quotaform_pool.analytics.instances} in use), but ${var.analytics_workers} workers are planned."
    }
    precondition {
      condition     = local.worker_vcpu <= data.quotaform_pool.analytics.headroom_vcpu
      error_message = "Pool analytics has ${data.quotaform_pool.analytics.headroom_vcpu} vCPU of headroom (quota ${data.quotaform_pool.analytics.max_vcpu} vCPU, ${data.quotaform_pool.analytics.vcpu} vCPU in use on ${data.quotaform_pool.analytics.instances} instances), but ${var.analytics_workers} x ${var.worker_type} need ${local.worker_vcpu} vCPU."
    }
    precondition {
      condition     = local.worker_monthly_cost <= data.quotaform_pool.analytics.headroom_monthly_cost_usd
      error_message = "Pool analytics has ${data.quotaform_pool.analytics.headroom_monthly_cost_usd} USD a month of headroom (quota ${data.quotaform_pool.analytics.max_monthly_cost_usd} USD), but the workers cost ${local.worker_monthly_cost} USD a month."
    }
  }
}

# Warns on every plan while the pool as a whole is over quota, whoever caused it.
check "analytics_within_quota" {
  assert {
    condition     = data.quotaform_pool.analytics.within_quota
    error_message = "Pool analytics is over quota: ${data.quotaform_pool.analytics.vcpu} of ${data.quotaform_pool.analytics.max_vcpu} vCPU and ${data.quotaform_pool.analytics.instances} of ${data.quotaform_pool.analytics.max_instances} instances in use."
  }
}

# The type the nightly pool should run, from 14 days of CloudWatch CPU; with
# pin_current the type changes only once a reviewer sets accepted_type.
data "quotaform_rightsizing" "nightly" {
  pool          = "nightly"
  pin_current   = var.pin_nightly_type
  accepted_type = var.accepted_nightly_type
}

resource "aws_instance" "nightly" {
  ami           = "ami-12c6146b"
  instance_type = data.quotaform_rightsizing.nightly.instance_type
  tags = merge(local.stack_tag, {
    "quotaform:pool" = "nightly"
    "quotaform:team" = "data"
  })
}

output "analytics_headroom_vcpu" {
  value = data.quotaform_pool.analytics.headroom_vcpu
}

output "worker_monthly_cost_usd" {
  value = local.worker_monthly_cost
}

output "nightly_rightsizing" {
  value = {
    instance_type    = data.quotaform_rightsizing.nightly.instance_type
    current_type     = data.quotaform_rightsizing.nightly.current_type
    recommended_type = data.quotaform_rightsizing.nightly.recommended_type
    action           = data.quotaform_rightsizing.nightly.action
    rule             = data.quotaform_rightsizing.nightly.rule
    p95_cpu          = data.quotaform_rightsizing.nightly.p95_cpu
    max_cpu          = data.quotaform_rightsizing.nightly.max_cpu
    monthly_savings  = data.quotaform_rightsizing.nightly.monthly_savings_usd
    pinned           = data.quotaform_rightsizing.nightly.pinned
  }
}
