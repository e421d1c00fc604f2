package quotaform.lib.money_test

import data.quotaform.lib
import rego.v1

test_allow_usd_pads_cents if {
	lib.usd(70.1) == "70.10"
	lib.usd(0.07) == "0.07"
	lib.usd(0) == "0.00"
}

test_allow_usd_rounds_to_cents if {
	lib.usd(1121.2849) == "1121.28"
	lib.usd(1121) == "1121.00"
	lib.usd(-5.5) == "-5.50"
}
