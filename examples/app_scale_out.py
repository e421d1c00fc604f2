"""The example platform with the api pool scaled out to 12 m5.xlarge instances.

12 x 4 vCPU = 48 vCPU against the api pool's 16 vCPU quota, so the policy gate
must deny a plan of this app.
"""

from app import build_platform
from cdktf import App

if __name__ == "__main__":
    app = App()
    build_platform(app, api_max_size=12)
    app.synth()
