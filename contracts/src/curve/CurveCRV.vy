# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveCRV (local stand-in)
@notice The Curve DAO token: an ERC-20 that only the Minter mints.
    Follows curvefi/curve-dao-contracts contracts/ERC20CRV.vy: `mint(_to, _value)` by the
    minter only, `set_minter` once by the admin, 18 decimals.
    Left out: the inflation schedule (`rate`, `start_epoch_time`, `available_supply`,
    `mintable_in_timeframe`, `update_mining_parameters`): the local gauge is given its CRV
    rate by its admin instead, and mint is not capped by the schedule's available supply.
"""

event Transfer:
    _from: indexed(address)
    _to: indexed(address)
    _value: uint256

event Approval:
    _owner: indexed(address)
    _spender: indexed(address)
    _value: uint256

name: public(String[64])
symbol: public(String[32])
decimals: public(constant(uint256)) = 18
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(address)
admin: public(address)


@deploy
def __init__():
    self.name = "Curve DAO Token"
    self.symbol = "CRV"
    self.admin = msg.sender


@external
def set_minter(_minter: address):
    assert msg.sender == self.admin  # dev: admin only
    assert self.minter == empty(address)  # dev: can set the minter only once, at creation
    self.minter = _minter


@external
def transfer(_to: address, _value: uint256) -> bool:
    assert _to != empty(address)  # dev: transfers to 0x0 are not allowed
    self.balanceOf[msg.sender] -= _value
    self.balanceOf[_to] += _value
    log Transfer(_from=msg.sender, _to=_to, _value=_value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    assert _to != empty(address)  # dev: transfers to 0x0 are not allowed
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    self.allowance[_from][msg.sender] -= _value
    log Transfer(_from=_from, _to=_to, _value=_value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    assert _value == 0 or self.allowance[msg.sender][_spender] == 0
    self.allowance[msg.sender][_spender] = _value
    log Approval(_owner=msg.sender, _spender=_spender, _value=_value)
    return True


@external
def mint(_to: address, _value: uint256) -> bool:
    assert msg.sender == self.minter  # dev: minter only
    assert _to != empty(address)  # dev: zero address
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(_from=empty(address), _to=_to, _value=_value)
    return True
