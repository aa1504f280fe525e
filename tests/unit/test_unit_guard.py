import socket
import urllib.request

import pytest

from tests.unit.conftest import ServiceTouched


def test_network_access_fails_in_unit_tests():
    with pytest.raises(ServiceTouched):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
    with pytest.raises(ServiceTouched):
        socket.create_connection(("127.0.0.1", 9))


def test_embedded_engine_fails_in_unit_tests():
    import chdb

    with pytest.raises(ServiceTouched):
        chdb.connect(":memory:")
