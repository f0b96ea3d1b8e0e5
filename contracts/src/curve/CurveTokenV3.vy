# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveTokenV3 (local stand-in)
@notice The LP token of an old-style Curve pool (3pool's 3Crv): an ERC-20 that only its pool
    (the minter) mints and burns.
    Follows curvefi/curve-contract contracts/tokens/CurveTokenV3.vy: `mint(_to, _value)` and
    `burnFrom(_to, _value)` by the minter only (burnFrom needs no allowance: the pool burns
    the caller's own tokens), `set_minter`, ERC-20 with an infinite allowance left unspent.
    Left out: `set_name`, `increaseAllowance`/`decreaseAllowance`.
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
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(address)


@deploy
def __init__(_name: String[64], _symbol: String[32]):
    self.name = _name
    self.symbol = _symbol
    self.minter = msg.sender
    log Transfer(_from=empty(address), _to=msg.sender, _value=0)


@view
@external
def decimals() -> uint256:
    return 18


@external
def transfer(_to: address, _value: uint256) -> bool:
    self.balanceOf[msg.sender] -= _value
    self.balanceOf[_to] += _value
    log Transfer(_from=msg.sender, _to=_to, _value=_value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    _allowance: uint256 = self.allowance[_from][msg.sender]
    if _allowance != max_value(uint256):
        self.allowance[_from][msg.sender] = _allowance - _value
    log Transfer(_from=_from, _to=_to, _value=_value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(_owner=msg.sender, _spender=_spender, _value=_value)
    return True


@external
def mint(_to: address, _value: uint256) -> bool:
    assert msg.sender == self.minter
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(_from=empty(address), _to=_to, _value=_value)
    return True


@external
def burnFrom(_to: address, _value: uint256) -> bool:
    assert msg.sender == self.minter
    self.totalSupply -= _value
    self.balanceOf[_to] -= _value
    log Transfer(_from=_to, _to=empty(address), _value=_value)
    return True


@external
def set_minter(_minter: address):
    assert msg.sender == self.minter
    self.minter = _minter
