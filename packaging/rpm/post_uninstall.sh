if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    # $1 >= 1: upgrade; restart a running proxy on the new binary.
    if [ "$1" -ge 1 ]; then
        systemctl try-restart backrunner.service >/dev/null 2>&1 || :
    fi
fi
exit 0
