"""Generate realistic ``terraform show -json`` plans of a given size, with their quotaform.json.

The plans copy the shape of real plans from Terraform 1.9 and hashicorp/aws 5.x
(see tests/fixtures/plans). Each is one line of JSON. Its ``resource_changes``
carry the provider's full attribute sets in ``before`` and ``after``, and
``after_unknown`` and ``after_sensitive`` for creates. Beside them are the
``prior_state`` and ``planned_values`` module trees, ``resource_drift``, and a
``configuration`` with nested module calls, ``for_each`` and ``count``
expressions and the references that tie an auto scaling group to its launch
template.

The stack: one module per team (``module.team_07``), in it one module instance
per service (``module.team_07.module.service["orders-3"]``). A service has a
launch template and auto scaling group, a few ``aws_instance`` workers with
EBS volumes, often an ``aws_db_instance``, and a security group, IAM role, S3
bucket, CloudWatch alarm and target group. About 60 % of the changes are
compute. Actions: about 50 % create, 22 % no-op, 16 % update, 6 % delete and
6 % replace (both orders).

Each team has three pools (``-web`` auto scaling groups, ``-workers``
instances, ``-db`` databases) that the resources name in their
``quotaform:pool`` tags. The quotas in quotaform.json leave 20 % headroom on
most pools and put a few over quota, so the check reports denials as a real
large plan would.

Run: ``python bench/generate_plans.py --changes 10000 --out bench/plans``.
The output is deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provider_bridge.catalog import load_catalog  # noqa: E402

PROVIDER = "registry.terraform.io/hashicorp/aws"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
WEB_TYPES = ["m5.large", "m5.xlarge", "m6i.large", "c5.xlarge", "m5.2xlarge"]
WORKER_TYPES = ["c5.large", "c5.xlarge", "c6i.2xlarge", "r5.large", "t3.medium"]
DB_CLASSES = ["db.m5.large", "db.r5.large", "db.m5.xlarge", "db.r5.xlarge"]
SERVICE_WORDS = ["orders", "billing", "search", "ledger", "catalog", "auth", "media", "events",
                 "reports", "payouts", "cart", "profile", "feeds", "alerts", "export", "ingest"]
TEAMS = 20


@dataclass
class Change:
    """One resource instance of the plan and its values on both sides."""

    module: str
    type: str
    name: str
    index: int | str | None
    actions: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    after_unknown: dict[str, Any] = field(default_factory=dict)
    after_sensitive: dict[str, Any] | bool = field(default_factory=dict)
    before_sensitive: dict[str, Any] | bool = field(default_factory=dict)
    drifted: bool = False

    @property
    def address(self) -> str:
        key = ""
        if isinstance(self.index, int):
            key = f"[{self.index}]"
        elif isinstance(self.index, str):
            key = f'["{self.index}"]'
        return f"{self.module}{self.type}.{self.name}{key}"


class Ids:
    """AWS-looking identifiers, deterministic for the generator's seed."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    def aws(self, prefix: str) -> str:
        return f"{prefix}-0{self.hex(16)}"

    def ip(self) -> str:
        octets = (self.rng.randint(0, 255), self.rng.randint(0, 255), self.rng.randint(4, 250))
        return "10." + ".".join(map(str, octets))


def _tags(team: str, pool: str | None, service: str, name: str) -> dict[str, str]:
    tags = {
        "Name": name,
        "environment": "production",
        "service": service,
        "cost-center": f"cc-{int(hashlib.sha256(team.encode()).hexdigest()[:8], 16) % 9000}",
        "managed-by": "terraform",
        "quotaform:team": team,
    }
    if pool is not None:
        tags["quotaform:pool"] = pool
    return tags


def _user_data(rng: random.Random) -> str:
    script = "#!/bin/bash\nset -euo pipefail\n" + "\n".join(
        f"echo 'configure step {i} {rng.random():.6f}' >> /var/log/bootstrap.log"
        for i in range(4))
    return base64.b64encode(script.encode()).decode()


# Attribute sets of hashicorp/aws 5.x, as a state after apply contains them.


def instance_values(ids: Ids, instance_type: str, tags: dict[str, str]) -> dict[str, Any]:
    private_ip = ids.ip()
    return {
        "ami": "ami-0c7217cdde317cfec", "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/"
        f"{ids.aws('i')}", "associate_public_ip_address": False,
        "availability_zone": ids.rng.choice(ZONES),
        "capacity_reservation_specification": [
            {"capacity_reservation_preference": "open", "capacity_reservation_target": []}],
        "cpu_core_count": 2, "cpu_options": [
            {"amd_sev_snp": "", "core_count": 2, "threads_per_core": 2}],
        "cpu_threads_per_core": 2, "credit_specification": [], "disable_api_stop": False,
        "disable_api_termination": False, "ebs_block_device": [], "ebs_optimized": True,
        "enclave_options": [{"enabled": False}], "ephemeral_block_device": [],
        "get_password_data": False, "hibernation": False, "host_id": "",
        "host_resource_group_arn": None, "iam_instance_profile": "app-worker",
        "id": ids.aws("i"), "instance_initiated_shutdown_behavior": "stop",
        "instance_lifecycle": "", "instance_market_options": [], "instance_state": "running",
        "instance_type": instance_type, "ipv6_address_count": 0, "ipv6_addresses": [],
        "key_name": "", "launch_template": [],
        "maintenance_options": [{"auto_recovery": "default"}],
        "metadata_options": [{"http_endpoint": "enabled", "http_protocol_ipv6": "disabled",
                              "http_put_response_hop_limit": 2, "http_tokens": "required",
                              "instance_metadata_tags": "disabled"}],
        "monitoring": True, "network_interface": [], "outpost_arn": "", "password_data": "",
        "placement_group": "", "placement_partition_number": 0,
        "primary_network_interface_id": ids.aws("eni"),
        "private_dns": f"ip-{private_ip.replace('.', '-')}.ec2.internal",
        "private_dns_name_options": [{"enable_resource_name_dns_a_record": False,
                                      "enable_resource_name_dns_aaaa_record": False,
                                      "hostname_type": "ip-name"}],
        "private_ip": private_ip, "public_dns": "", "public_ip": "",
        "root_block_device": [{
            "delete_on_termination": True, "device_name": "/dev/xvda", "encrypted": True,
            "iops": 3000, "kms_key_id": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids.hex(32)}",
            "tags": {}, "tags_all": {}, "throughput": 125, "volume_id": ids.aws("vol"),
            "volume_size": 30, "volume_type": "gp3"}],
        "secondary_private_ips": [], "security_groups": [], "source_dest_check": True,
        "spot_instance_request_id": "", "subnet_id": ids.aws("subnet"), "tags": tags,
        "tags_all": dict(tags), "tenancy": "default", "timeouts": None,
        "user_data": ids.hex(40), "user_data_base64": None, "user_data_replace_on_change": False,
        "volume_tags": None, "vpc_security_group_ids": [ids.aws("sg")],
    }


def launch_template_values(ids: Ids, name: str, instance_type: str,
                           tags: dict[str, str]) -> dict[str, Any]:
    template_id = ids.aws("lt")
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{template_id}",
        "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": [{
            "delete_on_termination": "true", "encrypted": "true", "iops": 0, "kms_key_id": "",
            "snapshot_id": "", "throughput": 0, "volume_size": 40, "volume_type": "gp3"}],
            "no_device": "", "virtual_name": ""}],
        "capacity_reservation_specification": [], "cpu_options": [], "credit_specification": [],
        "default_version": 1, "description": f"launch template of {name}",
        "disable_api_stop": False, "disable_api_termination": False, "ebs_optimized": "",
        "elastic_gpu_specifications": [], "elastic_inference_accelerator": [],
        "enclave_options": [], "hibernation_options": [],
        "iam_instance_profile": [{"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{name}",
                                  "name": ""}],
        "id": template_id, "image_id": "ami-0c7217cdde317cfec",
        "instance_initiated_shutdown_behavior": "", "instance_market_options": [],
        "instance_requirements": [], "instance_type": instance_type, "kernel_id": "",
        "key_name": "", "latest_version": ids.rng.randint(1, 9), "license_specification": [],
        "maintenance_options": [],
        "metadata_options": [{"http_endpoint": "enabled", "http_protocol_ipv6": "",
                              "http_put_response_hop_limit": 2, "http_tokens": "required",
                              "instance_metadata_tags": ""}],
        "monitoring": [{"enabled": True}], "name": name, "name_prefix": "",
        "network_interfaces": [], "placement": [], "private_dns_name_options": [],
        "ram_disk_id": "", "security_group_names": [],
        "tag_specifications": [{"resource_type": "instance", "tags": dict(tags)},
                               {"resource_type": "volume", "tags": dict(tags)}],
        "tags": tags, "tags_all": dict(tags), "update_default_version": None,
        "user_data": _user_data(ids.rng), "vpc_security_group_ids": [ids.aws("sg")],
    }


def group_values(ids: Ids, name: str, template: dict[str, Any], max_size: int,
                 tags: dict[str, str], overrides: list[str]) -> dict[str, Any]:
    mixed: list[dict[str, Any]] = []
    launch_template = [{"id": template["id"], "name": template["name"], "version": "$Latest"}]
    if overrides:
        launch_template = []
        mixed = [{"instances_distribution": [{
            "on_demand_allocation_strategy": "prioritized", "on_demand_base_capacity": 1,
            "on_demand_percentage_above_base_capacity": 50,
            "spot_allocation_strategy": "price-capacity-optimized", "spot_instance_pools": 0,
            "spot_max_price": ""}], "launch_template": [{
                "launch_template_specification": [{"launch_template_id": template["id"],
                                                   "launch_template_name": template["name"],
                                                   "version": "$Latest"}],
                "override": [{"instance_requirements": [], "instance_type": item,
                              "launch_template_specification": [], "weighted_capacity": "1"}
                             for item in overrides]}]}]
    return {
        "arn": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{ids.hex(8)}-"
        f"{ids.hex(4)}:autoScalingGroupName/{name}",
        "availability_zones": list(ZONES), "capacity_rebalance": False, "context": "",
        "default_cooldown": 300, "default_instance_warmup": 0,
        "desired_capacity": max(1, max_size // 2), "desired_capacity_type": "",
        "enabled_metrics": ["GroupDesiredCapacity", "GroupInServiceInstances"],
        "force_delete": False, "force_delete_warm_pool": False,
        "health_check_grace_period": 300, "health_check_type": "ELB", "id": name,
        "ignore_failed_scaling_activities": False, "initial_lifecycle_hook": [],
        "instance_maintenance_policy": [], "instance_refresh": [{
            "preferences": [{"auto_rollback": False, "checkpoint_delay": "",
                             "checkpoint_percentages": [], "instance_warmup": "",
                             "max_healthy_percentage": 100, "min_healthy_percentage": 90,
                             "scale_in_protected_instances": "Ignore", "skip_matching": False,
                             "standby_instances": "Ignore"}],
            "strategy": "Rolling", "triggers": ["tag"]}],
        "launch_configuration": "", "launch_template": launch_template,
        "load_balancers": [], "max_instance_lifetime": 0, "max_size": max_size,
        "metrics_granularity": "1Minute", "min_elb_capacity": None,
        "min_size": min(2, max_size), "mixed_instances_policy": mixed, "name": name,
        "name_prefix": "", "placement_group": "", "predicted_capacity": 0,
        "protect_from_scale_in": False,
        "service_linked_role_arn": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
        "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        "suspended_processes": [],
        "tag": [{"key": key, "propagate_at_launch": True, "value": value}
                for key, value in tags.items()],
        "target_group_arns": [f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/"
                              f"{name[:20]}/{ids.hex(16)}"],
        "termination_policies": ["OldestLaunchTemplate", "Default"], "timeouts": None,
        "traffic_source": [], "vpc_zone_identifier": [ids.aws("subnet") for _ in ZONES],
        "wait_for_capacity_timeout": "10m", "wait_for_elb_capacity": None, "warm_pool": [],
        "warm_pool_size": 0,
    }


def db_values(ids: Ids, name: str, instance_class: str, tags: dict[str, str]) -> dict[str, Any]:
    endpoint = f"{name}.{ids.hex(12)}.{REGION}.rds.amazonaws.com"
    return {
        "address": endpoint, "allocated_storage": 100, "allow_major_version_upgrade": None,
        "apply_immediately": False, "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{name}",
        "auto_minor_version_upgrade": True, "availability_zone": ids.rng.choice(ZONES),
        "backup_retention_period": 7, "backup_target": "region",
        "backup_window": "03:00-04:00", "blue_green_update": [],
        "ca_cert_identifier": "rds-ca-rsa2048-g1", "character_set_name": "",
        "copy_tags_to_snapshot": True, "custom_iam_instance_profile": "",
        "customer_owned_ip_enabled": False, "db_name": name.replace("-", "_"),
        "db_subnet_group_name": "production-private", "dedicated_log_volume": False,
        "delete_automated_backups": True, "deletion_protection": True, "domain": "",
        "domain_auth_secret_arn": "", "domain_dns_ips": [], "domain_fqdn": "",
        "domain_iam_role_name": "", "domain_ou": "",
        "enabled_cloudwatch_logs_exports": ["postgresql", "upgrade"],
        "endpoint": f"{endpoint}:5432", "engine": "postgres",
        "engine_lifecycle_support": "open-source-rds-extended-support",
        "engine_version": "16.3", "engine_version_actual": "16.3",
        "final_snapshot_identifier": f"{name}-final", "hosted_zone_id": "Z2R2ITUGPM61AM",
        "iam_database_authentication_enabled": False, "id": ids.aws("db").upper(),
        "identifier": name, "identifier_prefix": "", "instance_class": instance_class,
        "iops": 3000, "kms_key_id": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids.hex(32)}",
        "latest_restorable_time": "2026-11-30T11:55:00Z", "license_model": "postgresql-license",
        "listener_endpoint": [], "maintenance_window": "sun:05:00-sun:06:00",
        "manage_master_user_password": None, "master_user_secret": [],
        "master_user_secret_kms_key_id": None, "max_allocated_storage": 500,
        "monitoring_interval": 60,
        "monitoring_role_arn": f"arn:aws:iam::{ACCOUNT}:role/rds-enhanced-monitoring",
        "multi_az": True, "nchar_character_set_name": "", "network_type": "IPV4",
        "option_group_name": "default:postgres-16", "parameter_group_name": "production-pg16",
        "password": "example-password-not-real", "performance_insights_enabled": True,
        "performance_insights_kms_key_id": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids.hex(32)}",
        "performance_insights_retention_period": 7, "port": 5432, "publicly_accessible": False,
        "replica_mode": "", "replicas": [], "replicate_source_db": "",
        "resource_id": f"db-{ids.hex(26).upper()}", "restore_to_point_in_time": [],
        "s3_import": [], "skip_final_snapshot": False, "snapshot_identifier": None,
        "status": "available", "storage_encrypted": True, "storage_throughput": 125,
        "storage_type": "gp3", "tags": tags, "tags_all": dict(tags), "timeouts": None,
        "timezone": "", "upgrade_storage_config": None, "username": "app",
        "vpc_security_group_ids": [ids.aws("sg")],
    }


def security_group_values(ids: Ids, name: str, tags: dict[str, str]) -> dict[str, Any]:
    def rule(port: int, cidr: str) -> dict[str, Any]:
        return {"cidr_blocks": [cidr], "description": f"port {port}", "from_port": port,
                "ipv6_cidr_blocks": [], "prefix_list_ids": [], "protocol": "tcp",
                "security_groups": [], "self": False, "to_port": port}

    group_id = ids.aws("sg")
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}",
        "description": f"{name} application traffic",
        "egress": [{"cidr_blocks": ["0.0.0.0/0"], "description": "", "from_port": 0,
                    "ipv6_cidr_blocks": ["::/0"], "prefix_list_ids": [], "protocol": "-1",
                    "security_groups": [], "self": False, "to_port": 0}],
        "id": group_id, "ingress": [rule(port, "10.0.0.0/8") for port in (443, 8080, 9090)],
        "name": name, "name_prefix": "", "owner_id": ACCOUNT, "revoke_rules_on_delete": False,
        "tags": tags, "tags_all": dict(tags), "timeouts": None, "vpc_id": ids.aws("vpc"),
    }


def role_values(ids: Ids, name: str, tags: dict[str, str]) -> dict[str, Any]:
    policy = orjson.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}).decode()
    inline = orjson.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{name}-data", f"arn:aws:s3:::{name}-data/*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids.hex(32)}"}]}).decode()
    return {
        "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "assume_role_policy": policy,
        "create_date": "2025-06-02T10:14:31Z", "description": f"runtime role of {name}",
        "force_detach_policies": False, "id": name,
        "inline_policy": [{"name": f"{name}-data", "policy": inline}],
        "managed_policy_arns": ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
                                "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
        "max_session_duration": 3600, "name": name, "name_prefix": "", "path": "/",
        "permissions_boundary": "", "tags": tags, "tags_all": dict(tags),
        "unique_id": f"AROA{ids.hex(17).upper()}",
    }


def bucket_values(ids: Ids, name: str, tags: dict[str, str]) -> dict[str, Any]:
    bucket = f"{name}-data-{ids.hex(6)}"
    return {
        "acceleration_status": "", "acl": None, "arn": f"arn:aws:s3:::{bucket}",
        "bucket": bucket, "bucket_domain_name": f"{bucket}.s3.amazonaws.com",
        "bucket_prefix": "", "bucket_regional_domain_name":
        f"{bucket}.s3.{REGION}.amazonaws.com", "cors_rule": [], "force_destroy": False,
        "grant": [{"id": ids.hex(64), "permissions": ["FULL_CONTROL"], "type": "CanonicalUser",
                   "uri": ""}],
        "hosted_zone_id": "Z3AQBSTGFYJSTF", "id": bucket, "lifecycle_rule": [], "logging": [],
        "object_lock_configuration": [], "object_lock_enabled": False, "policy": "",
        "region": REGION, "replication_configuration": [], "request_payer": "BucketOwner",
        "server_side_encryption_configuration": [{"rule": [{
            "apply_server_side_encryption_by_default": [{"kms_master_key_id": "",
                                                         "sse_algorithm": "AES256"}],
            "bucket_key_enabled": False}]}],
        "tags": tags, "tags_all": dict(tags), "timeouts": None,
        "versioning": [{"enabled": True, "mfa_delete": False}], "website": [],
        "website_domain": None, "website_endpoint": None,
    }


def volume_values(ids: Ids, tags: dict[str, str]) -> dict[str, Any]:
    volume_id = ids.aws("vol")
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume_id}",
        "availability_zone": ids.rng.choice(ZONES), "encrypted": True,
        "final_snapshot": False, "id": volume_id, "iops": 3000,
        "kms_key_id": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ids.hex(32)}",
        "multi_attach_enabled": False, "outpost_arn": "", "size": 200, "snapshot_id": "",
        "tags": tags, "tags_all": dict(tags), "throughput": 250, "timeouts": None,
        "type": "gp3",
    }


def alarm_values(ids: Ids, name: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "actions_enabled": True,
        "alarm_actions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall-{name[:12]}"],
        "alarm_description": f"CPU of {name} above 80 % for 15 minutes",
        "alarm_name": f"{name}-cpu-high", "arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:"
        f"alarm:{name}-cpu-high", "comparison_operator": "GreaterThanThreshold",
        "datapoints_to_alarm": 3, "dimensions": {"AutoScalingGroupName": name},
        "evaluate_low_sample_count_percentiles": "", "evaluation_periods": 3,
        "extended_statistic": "", "id": f"{name}-cpu-high", "insufficient_data_actions": [],
        "metric_name": "CPUUtilization", "metric_query": [], "namespace": "AWS/EC2",
        "ok_actions": [], "period": 300, "statistic": "Average", "tags": tags,
        "tags_all": dict(tags), "threshold": 80, "threshold_metric_id": "",
        "treat_missing_data": "missing", "unit": "",
    }


def target_group_values(ids: Ids, name: str, tags: dict[str, str]) -> dict[str, Any]:
    short = name[:24]
    return {
        "arn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{short}/"
        f"{ids.hex(16)}", "arn_suffix": f"targetgroup/{short}/{ids.hex(16)}",
        "connection_termination": None, "deregistration_delay": "30",
        "health_check": [{"enabled": True, "healthy_threshold": 3, "interval": 15,
                          "matcher": "200-299", "path": "/healthz", "port": "traffic-port",
                          "protocol": "HTTP", "timeout": 5, "unhealthy_threshold": 3}],
        "id": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{short}/"
        f"{ids.hex(16)}", "ip_address_type": "ipv4", "lambda_multi_value_headers_enabled": False,
        "load_balancer_arns": [], "load_balancing_algorithm_type": "round_robin",
        "load_balancing_anomaly_mitigation": "off", "load_balancing_cross_zone_enabled": "use_"
        "load_balancer_configuration", "name": short, "name_prefix": "", "port": 8080,
        "preserve_client_ip": None, "protocol": "HTTP", "protocol_version": "HTTP1",
        "proxy_protocol_v2": False, "slow_start": 0,
        "stickiness": [{"cookie_duration": 86400, "cookie_name": "", "enabled": False,
                        "type": "lb_cookie"}], "tags": tags, "tags_all": dict(tags),
        "target_failover": [], "target_group_health": [], "target_health_state": [],
        "target_type": "instance", "vpc_id": ids.aws("vpc"),
    }


# Attributes that are known only after apply, per type.
COMPUTED = {
    "aws_instance": ["arn", "availability_zone", "cpu_core_count", "id", "instance_state",
                     "primary_network_interface_id", "private_dns", "private_ip", "public_dns",
                     "public_ip", "subnet_id", "root_block_device", "ipv6_addresses",
                     "outpost_arn", "password_data", "placement_group", "host_id"],
    "aws_launch_template": ["arn", "id", "latest_version", "default_version"],
    "aws_autoscaling_group": ["arn", "id", "availability_zones", "service_linked_role_arn",
                              "predicted_capacity", "launch_template", "mixed_instances_policy",
                              "target_group_arns", "vpc_zone_identifier"],
    "aws_db_instance": ["address", "arn", "availability_zone", "endpoint", "hosted_zone_id",
                        "id", "latest_restorable_time", "resource_id", "status",
                        "engine_version_actual", "kms_key_id", "listener_endpoint"],
    "aws_security_group": ["arn", "id", "owner_id", "vpc_id"],
    "aws_iam_role": ["arn", "create_date", "id", "unique_id"],
    "aws_s3_bucket": ["arn", "bucket_domain_name", "bucket_regional_domain_name",
                      "hosted_zone_id", "id", "region", "grant"],
    "aws_ebs_volume": ["arn", "id", "kms_key_id", "availability_zone"],
    "aws_cloudwatch_metric_alarm": ["arn", "id"],
    "aws_lb_target_group": ["arn", "arn_suffix", "id", "vpc_id"],
}
SENSITIVE = {"aws_db_instance": ["password"]}


def planned_create(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any],
                                                                dict[str, Any]]:
    """Split full values into a create's known values, its unknowns and its sensitive marks."""
    computed = COMPUTED.get(kind, ["arn", "id"])
    after = {key: value for key, value in values.items() if key not in computed}
    unknown: dict[str, Any] = {key: True for key in computed}
    for key, value in after.items():
        if isinstance(value, list):
            unknown[key] = [{} if isinstance(item, dict) else False for item in value]
        elif isinstance(value, dict):
            unknown[key] = {}
    sensitive: dict[str, Any] = {key: ([] if isinstance(value, list) else {})
                                 for key, value in after.items()
                                 if isinstance(value, (list, dict))}
    for key in SENSITIVE.get(kind, []):
        sensitive[key] = True
    return after, unknown, sensitive


def sensitive_marks(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    marks: dict[str, Any] = {key: ([] if isinstance(value, list) else {})
                             for key, value in values.items() if isinstance(value, (list, dict))}
    for key in SENSITIVE.get(kind, []):
        marks[key] = True
    return marks


@dataclass
class Totals:
    """vCPU and instances per pool after the plan, to set quotas around them."""

    vcpu: dict[str, int] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)

    def add(self, pool: str, instances: int, vcpu_each: int) -> None:
        self.instances[pool] = self.instances.get(pool, 0) + instances
        self.vcpu[pool] = self.vcpu.get(pool, 0) + instances * vcpu_each


class Generator:
    """Builds the resource changes of every service, then the plan's module trees."""

    def __init__(self, changes: int, seed: int):
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.catalog = load_catalog()
        self.target = changes
        self.changes: list[Change] = []
        self.totals = Totals()

    def vcpu(self, instance_type: str) -> int:
        spec = self.catalog.get(instance_type.removeprefix("db."))
        return spec.vcpu if spec is not None else 0

    def action(self) -> list[str]:
        roll = self.rng.random()
        if roll < 0.50:
            return ["create"]
        if roll < 0.72:
            return ["no-op"]
        if roll < 0.88:
            return ["update"]
        if roll < 0.94:
            return ["delete"]
        return ["create", "delete"] if roll < 0.97 else ["delete", "create"]

    def add(self, module: str, kind: str, name: str, index: int | str | None,
            values: dict[str, Any], mutate: Any = None,
            actions: list[str] | None = None) -> Change:
        """Add one change of full ``values``; ``mutate`` edits the after side of an update."""
        actions = actions or self.action()
        change = Change(module=module, type=kind, name=name, index=index, actions=actions,
                        before=None, after=None)
        if actions == ["create"]:
            change.after, change.after_unknown, change.after_sensitive = planned_create(
                kind, values)
        elif actions == ["delete"]:
            change.before = values
            change.before_sensitive = sensitive_marks(kind, values)
            change.after_sensitive = False
        elif "create" in actions:
            change.before = values
            replaced = dict(values)
            if mutate is not None:
                mutate(replaced)
            change.after, change.after_unknown, change.after_sensitive = planned_create(
                kind, replaced)
            change.before_sensitive = sensitive_marks(kind, values)
        else:
            change.before = values
            change.after = dict(values)
            if actions == ["update"]:
                change.after["tags"] = {**values.get("tags", {}), "revision": "r2"}
                if "tags_all" in change.after:
                    change.after["tags_all"] = dict(change.after["tags"])
                if mutate is not None and self.rng.random() < 0.5:
                    mutate(change.after)
            change.before_sensitive = sensitive_marks(kind, values)
            change.after_sensitive = sensitive_marks(kind, change.after)
            change.drifted = actions == ["no-op"] and self.rng.random() < 0.05
        self.changes.append(change)
        return change

    def service(self, team: str, team_index: int, service: str) -> None:
        module = f'module.team_{team_index:02d}.module.service["{service}"].'
        base = f"{team}-{service}"
        web_pool, worker_pool, db_pool = f"{team}-web", f"{team}-workers", f"{team}-db"

        web_type = self.rng.choice(WEB_TYPES)
        template = launch_template_values(self.ids, f"{base}-app", web_type,
                                          _tags(team, web_pool, service, f"{base}-app"))
        template_change = self.add(module, "aws_launch_template", "app", None, template,
                                   lambda after: after.update(instance_type="m5.xlarge"))
        max_size = self.rng.choice([2, 3, 4, 6, 8])
        overrides = self.rng.sample(WEB_TYPES, 2) if self.rng.random() < 0.2 else []
        group = group_values(self.ids, f"{base}-app", template, max_size,
                             _tags(team, web_pool, service, f"{base}-app"), overrides)
        # A group is deleted with its launch template, as a removed service module does.
        group_change = self.add(module, "aws_autoscaling_group", "app", None, group,
                                lambda after: after.update(max_size=after["max_size"] + 2),
                                ["delete"] if template_change.actions == ["delete"] else None)
        if "delete" not in group_change.actions or "create" in group_change.actions:
            after_max = (group_change.after or group)["max_size"]
            counted = overrides[0] if overrides else (
                (template_change.after or template).get("instance_type", web_type))
            self.totals.add(web_pool, after_max, self.vcpu(counted))

        for index in range(self.rng.randint(2, 6)):
            worker_type = self.rng.choice(WORKER_TYPES)
            name = f"{base}-worker-{index}"
            values = instance_values(self.ids, worker_type,
                                     _tags(team, worker_pool, service, name))
            change = self.add(module, "aws_instance", "worker", index, values,
                              lambda after: after.update(instance_type="c5.2xlarge"))
            if change.after is not None:
                self.totals.add(worker_pool, 1, self.vcpu(change.after["instance_type"]))
            if self.rng.random() < 0.5:
                self.add(module, "aws_ebs_volume", "data", index,
                         volume_values(self.ids, _tags(team, None, service, f"{name}-data")))

        if self.rng.random() < 0.6:
            db_class = self.rng.choice(DB_CLASSES)
            values = db_values(self.ids, f"{base}-db", db_class,
                               _tags(team, db_pool, service, f"{base}-db"))
            change = self.add(module, "aws_db_instance", "db", None, values,
                              lambda after: after.update(allocated_storage=200))
            if change.after is not None:
                self.totals.add(db_pool, 1, self.vcpu(change.after["instance_class"]))

        tags = _tags(team, None, service, base)
        self.add(module, "aws_security_group", "app", None,
                 security_group_values(self.ids, f"{base}-app", tags))
        self.add(module, "aws_iam_role", "app", None, role_values(self.ids, f"{base}-app", tags))
        self.add(module, "aws_s3_bucket", "data", None, bucket_values(self.ids, base, tags))
        self.add(module, "aws_cloudwatch_metric_alarm", "cpu", None,
                 alarm_values(self.ids, f"{base}-app", tags))
        self.add(module, "aws_lb_target_group", "app", None,
                 target_group_values(self.ids, f"{base}-app", tags))

    def build(self) -> None:
        number = 0
        while len(self.changes) < self.target:
            team_index = number % TEAMS + 1
            word = SERVICE_WORDS[(number // TEAMS) % len(SERVICE_WORDS)]
            self.service(f"team-{team_index:02d}", team_index, f"{word}-{number // TEAMS}")
            number += 1
        del self.changes[self.target:]


# The plan document.


def resource_change(change: Change) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": change.address, "module_address": change.module.removesuffix("."),
        "mode": "managed", "type": change.type, "name": change.name,
        "provider_name": PROVIDER,
        "change": {
            "actions": change.actions, "before": change.before, "after": change.after,
            "after_unknown": change.after_unknown, "before_sensitive": change.before_sensitive,
            "after_sensitive": change.after_sensitive,
        },
    }
    if change.index is not None:
        entry["index"] = change.index
    if "create" in change.actions and "delete" in change.actions:
        entry["action_reason"] = "replace_because_cannot_update"
        entry["change"]["replace_paths"] = [["instance_type"]]
    return entry


def drift_entry(change: Change) -> dict[str, Any]:
    before = change.before or {}
    after = dict(before)
    after["tags_all"] = {**before.get("tags_all", {}), "last-audit": "2026-11-28"}
    return {
        "address": change.address, "module_address": change.module.removesuffix("."),
        "mode": "managed", "type": change.type, "name": change.name,
        "provider_name": PROVIDER,
        "change": {"actions": ["update"], "before": before, "after": after,
                   "after_unknown": {}, "before_sensitive": change.before_sensitive,
                   "after_sensitive": change.before_sensitive},
    }


def state_resource(change: Change, values: dict[str, Any],
                   marks: dict[str, Any] | bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": change.address, "mode": "managed", "type": change.type,
        "name": change.name, "provider_name": PROVIDER, "schema_version": 1,
        "values": values, "sensitive_values": marks if isinstance(marks, dict) else {},
    }
    if change.index is not None:
        entry["index"] = change.index
    return entry


def module_tree(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Nest resources by module address the way planned_values and prior_state do."""
    teams: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for module, entry in entries:
        team, _, service = module.removesuffix(".").partition(".module.service")
        teams.setdefault(team, {}).setdefault(f"{team}.module.service{service}", []).append(entry)
    children = []
    for team, services in teams.items():
        children.append({
            "address": team, "resources": [],
            "child_modules": [{"address": address, "resources": resources}
                              for address, resources in services.items()],
        })
    return {"resources": [], "child_modules": children}


def configuration(teams: int) -> dict[str, Any]:
    """Build the configuration section: team modules, the service module and its resources."""
    def block(kind: str, name: str, expressions: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"address": f"{kind}.{name}", "mode": "managed", "type": kind, "name": name,
                "provider_config_key": "aws", "expressions": expressions, "schema_version": 1,
                **extra}

    def ref(*names: str) -> dict[str, Any]:
        return {"references": list(names)}

    tags = ref("local.tags", "var.service", "var.team", "var.pool_prefix")
    resources = [
        block("aws_launch_template", "app", {
            "name": ref("local.name"), "image_id": ref("var.image_id"),
            "instance_type": ref("var.web_instance_type"), "tags": tags,
            "tag_specifications": [{"resource_type": {"constant_value": "instance"},
                                    "tags": tags}],
            "metadata_options": [{"http_tokens": {"constant_value": "required"}}],
            "user_data": ref("local.user_data")}),
        block("aws_autoscaling_group", "app", {
            "name": ref("local.name"), "max_size": ref("var.max_size"),
            "min_size": {"constant_value": 2},
            "launch_template": [{
                "id": ref("aws_launch_template.app.id", "aws_launch_template.app"),
                "version": {"constant_value": "$Latest"}}],
            "vpc_zone_identifier": ref("var.subnet_ids"),
            "target_group_arns": ref("aws_lb_target_group.app.arn", "aws_lb_target_group.app")}),
        block("aws_instance", "worker", {
            "ami": ref("var.image_id"), "instance_type": ref("var.worker_instance_type"),
            "subnet_id": ref("var.subnet_ids[count.index]", "var.subnet_ids"),
            "tags": tags, "iam_instance_profile": ref("var.instance_profile")},
            count_expression=ref("var.workers")),
        block("aws_ebs_volume", "data", {
            "availability_zone": ref("aws_instance.worker[count.index].availability_zone"),
            "size": {"constant_value": 200}, "type": {"constant_value": "gp3"}, "tags": tags},
            count_expression=ref("var.workers")),
        block("aws_db_instance", "db", {
            "identifier": ref("local.name"), "instance_class": ref("var.db_class"),
            "engine": {"constant_value": "postgres"}, "password": ref("var.db_password"),
            "tags": tags}, count_expression=ref("var.database")),
        block("aws_security_group", "app", {"name": ref("local.name"),
                                            "vpc_id": ref("var.vpc_id"), "tags": tags}),
        block("aws_iam_role", "app", {"name": ref("local.name"),
                                      "assume_role_policy": ref("data.aws_iam_policy_document"
                                                                ".assume.json"), "tags": tags}),
        block("aws_s3_bucket", "data", {"bucket_prefix": ref("local.name"), "tags": tags}),
        block("aws_cloudwatch_metric_alarm", "cpu", {
            "alarm_name": ref("local.name"), "threshold": {"constant_value": 80},
            "dimensions": ref("aws_autoscaling_group.app.name", "aws_autoscaling_group.app")}),
        block("aws_lb_target_group", "app", {"name": ref("local.name"),
                                             "port": {"constant_value": 8080}}),
    ]
    variables = {name: {"description": f"the service's {name.replace('_', ' ')}"}
                 for name in ("team", "service", "pool_prefix", "image_id", "web_instance_type",
                              "worker_instance_type", "db_class", "max_size", "workers",
                              "database", "subnet_ids", "vpc_id", "instance_profile",
                              "db_password")}
    variables["db_password"]["sensitive"] = True
    service_module = {"resources": resources, "variables": variables,
                      "outputs": {"group_name": {"expression": ref(
                          "aws_autoscaling_group.app.name", "aws_autoscaling_group.app")}}}
    calls = {}
    for index in range(1, teams + 1):
        calls[f"team_{index:02d}"] = {
            "source": "./modules/team",
            "expressions": {"team": {"constant_value": f"team-{index:02d}"}},
            "module": {"module_calls": {"service": {
                "source": "../service", "for_each_expression": ref("local.services"),
                "expressions": {"team": ref("var.team"), "service": ref("each.key"),
                                "max_size": ref("each.value.max_size")},
                "module": service_module}},
                "variables": {"team": {"description": "owning team"}}},
        }
    return {
        "provider_config": {"aws": {"name": "aws", "full_name": PROVIDER, "expressions": {
            "region": {"constant_value": REGION}}}},
        "root_module": {"module_calls": calls},
    }


def plan_document(generator: Generator) -> dict[str, Any]:
    changes = generator.changes
    planned = [(c.module, state_resource(c, c.after, c.after_sensitive))
               for c in changes if c.after is not None]
    prior = [(c.module, state_resource(c, c.before, c.before_sensitive))
             for c in changes if c.before is not None]
    return {
        "format_version": "1.2", "terraform_version": "1.9.5",
        "variables": {"environment": {"value": "production"}},
        "planned_values": {"root_module": module_tree(planned)},
        "resource_drift": [drift_entry(c) for c in changes if c.drifted],
        "resource_changes": [resource_change(c) for c in changes],
        "output_changes": {},
        "prior_state": {"format_version": "1.0", "terraform_version": "1.9.5",
                        "values": {"root_module": module_tree(prior)}},
        "configuration": configuration(TEAMS),
        "relevant_attributes": [
            {"resource": c.address.replace(".aws_autoscaling_group.app",
                                           ".aws_launch_template.app"), "attribute": ["id"]}
            for c in changes if c.type == "aws_autoscaling_group"],
        "timestamp": "2026-12-01T09:30:00Z", "applyable": True, "complete": True,
        "errored": False,
    }


def data_document(generator: Generator) -> dict[str, Any]:
    """quotaform.json: teams, three pools each, quotas with headroom and a few breaches."""
    rng = random.Random(7)
    teams = [f"team-{index:02d}" for index in range(1, TEAMS + 1)]
    pools, quotas = [], []
    for team in teams:
        for suffix, kind, instance_type in (("web", "asg", "m5.large"),
                                            ("workers", "instances", "c5.large"),
                                            ("db", "db", "db.m5.large")):
            name = f"{team}-{suffix}"
            pool: dict[str, Any] = {"name": name, "kind": kind, "team": team,
                                    "instance_type": instance_type}
            if kind == "asg":
                pool.update(min_size=2, max_size=4)
            pools.append(pool)
            vcpu = generator.totals.vcpu.get(name, 0)
            instances = generator.totals.instances.get(name, 0)
            factor = 0.8 if rng.random() < 0.1 else 1.2
            quotas.append({"scope": "pool", "target": name,
                           "max_vcpu": max(1, int(vcpu * factor)),
                           "max_instances": max(1, int(instances * factor))})
        team_vcpu = sum(generator.totals.vcpu.get(f"{team}-{s}", 0)
                        for s in ("web", "workers", "db"))
        quotas.append({"scope": "team", "target": team, "max_vcpu": int(team_vcpu * 1.1) + 1})
    return {"version": 1, "allocation": {"teams": [{"name": team} for team in teams],
                                         "pools": pools, "quotas": quotas}}


def write_plan(changes: int, out: Path, seed: int) -> tuple[Path, Path]:
    """Write ``plan-N.json`` and ``quotaform-N.json`` into ``out``; return both paths."""
    generator = Generator(changes, seed)
    generator.build()
    out.mkdir(parents=True, exist_ok=True)
    plan_path = out / f"plan-{changes}.json"
    data_path = out / f"quotaform-{changes}.json"
    plan_path.write_bytes(orjson.dumps(plan_document(generator)))
    data_path.write_bytes(orjson.dumps(data_document(generator), option=orjson.OPT_INDENT_2))
    return plan_path, data_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, action="append",
                        help="Resource changes per plan; repeat for several plans "
                        "(default: 1000 and 10000).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "plans",
                        help="Output folder (default: bench/plans).")
    parser.add_argument("--seed", type=int, default=20261201, help="Random seed.")
    args = parser.parse_args(argv)
    for changes in args.changes or [1000, 10000]:
        plan_path, data_path = write_plan(changes, args.out, args.seed)
        digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()[:16]
        size = plan_path.stat().st_size / 1e6
        print(f"{plan_path}: {changes} resource changes, {size:.1f} MB, sha256 {digest}...; "
              f"data {data_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
