#!/bin/sh
# Print the root of an offline provider mirror that holds hashicorp/aws, or
# nothing. terraform reads such a mirror only through a CLI configuration, so
# the Makefile passes the result to quotaform as QUOTAFORM_TF_PLUGIN_MIRROR.
# An already set QUOTAFORM_TF_PLUGIN_MIRROR wins.
if [ -n "${QUOTAFORM_TF_PLUGIN_MIRROR:-}" ]; then
    echo "$QUOTAFORM_TF_PLUGIN_MIRROR"
    exit 0
fi
for root in "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins" \
    /usr/local/share/terraform/plugins /usr/share/terraform/plugins /opt; do
    [ -d "$root" ] || continue
    found=$(find "$root" -maxdepth 4 -type d -path '*/registry.terraform.io/hashicorp/aws' \
        2>/dev/null | head -n 1)
    if [ -n "$found" ]; then
        echo "${found%/registry.terraform.io/hashicorp/aws}"
        exit 0
    fi
done
