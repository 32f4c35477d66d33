"""`voicectl bench`: latency budgets a CI can gate on, and the capacity of one server.

Map:
    stats.py    percentiles and summaries of a list of values
    gates.py    marks judged against a budget file and a baseline (GO / WARN / NO-GO)
    suite.py    scenarios run N times, C at once, through the simulator's emulator/checks
    results.py  the bench result, its JSON form and the baseline reader
    context.py  what a run ran on (version, commit, providers, settings, machine)
    junit.py    JUnit XML for CI
    report.py   progress bar and 80-column tables
    server.py   `voicectl serve` as a separate process, CPU and memory from /proc
    load.py     `--load`: many concurrent calls as Twilio makes them, from worker processes
    command.py  the `voicectl bench` command (cli.py only registers it)
"""
