"""A faithful local WeCom for tests, the demo and benchmarks (see docs/simulator.md).

    sim = Simulator(corp_id, secret, token, aes_key, callback_url=...)
    await sim.start()                 # sim.base_url -> "http://127.0.0.1:PORT/cgi-bin/"
    ext, code = sim.scan_contact_qr("zhangsan", "store-42", "顾客甲")
    await sim.wait_callbacks_delivered()
    assert sim.welcomes_for(ext)
"""

from .api import CallRecord
from .callbacks import Attempt, DeliveryRecord
from .client import ChatMessage
from .facade import Simulator
from .faults import FaultPlan, FaultRates
from .groupsend import GroupSend, MemberTask, SendResult
from .options import SimOptions
from .records import GroupMessage
from .state import AppMessage, WelcomeRecord

__all__ = [
    "AppMessage",
    "Attempt",
    "CallRecord",
    "ChatMessage",
    "DeliveryRecord",
    "FaultPlan",
    "FaultRates",
    "GroupMessage",
    "GroupSend",
    "MemberTask",
    "SendResult",
    "SimOptions",
    "Simulator",
    "WelcomeRecord",
]
