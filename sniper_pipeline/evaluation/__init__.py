"""Signal evaluation: pure pandas/numpy (no Dagster, no SQL, no I/O).

forward.py  forward absolute returns and realised volatility per bar and horizon
metrics.py  lift, direction hit rate, seeded block-bootstrap CIs
budget.py   notifications per coin per week
table.py    the evaluation rows of one coin
walkforward.py  rolling fit/score splits and the parameter study under a budget
"""
