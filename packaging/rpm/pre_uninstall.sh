# $1 = 0: the package is being erased, not upgraded.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now backrunner.service >/dev/null 2>&1 || :
fi
exit 0
