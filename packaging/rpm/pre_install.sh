getent group backrunner >/dev/null || groupadd -r backrunner
getent passwd backrunner >/dev/null || \
    useradd -r -g backrunner -d /var/lib/backrunner -s /sbin/nologin -c "Backrunner proxy" backrunner
exit 0
