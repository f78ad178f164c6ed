install -d -o backrunner -g backrunner -m 0750 /var/lib/backrunner /var/log/backrunner
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
