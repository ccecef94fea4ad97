"""CPython tests of the board's MQTT link, Modbus master and flash.sh against real peers."""
