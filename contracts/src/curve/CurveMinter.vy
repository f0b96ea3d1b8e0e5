# pragma version ~=0.4.3
# pragma evm-version cancun
"""
@title CurveMinter (local stand-in)
@notice Mints the CRV a gauge says an account has earned.
    Follows curvefi/curve-dao-contracts contracts/Minter.vy: `mint(gauge_addr)` checkpoints
    the caller in the gauge (`user_checkpoint`), reads its `integrate_fraction` and mints
    the part not yet `minted[_for][_gauge]` to the caller; `mint_many`, `mint_for` with
    `toggle_approve_mint`.
    Left out: the GaugeController. Its `gauge_types(_gauge)` check (which reverts for a
    gauge never added) is the admin's `add_gauge` list here.
"""

interface LiquidityGauge:
    def integrate_fraction(addr: address) -> uint256: view
    def user_checkpoint(addr: address) -> bool: nonpayable

interface MERC20:
    def mint(_to: address, _value: uint256) -> bool: nonpayable


event Minted:
    recipient: indexed(address)
    gauge: address
    minted: uint256


token: public(address)
admin: public(address)
gauges: public(HashMap[address, bool])
minted: public(HashMap[address, HashMap[address, uint256]])
allowed_to_mint_for: public(HashMap[address, HashMap[address, bool]])


@deploy
def __init__(_token: address):
    self.token = _token
    self.admin = msg.sender


@external
def add_gauge(_gauge: address):
    assert msg.sender == self.admin  # dev: admin only
    self.gauges[_gauge] = True


@internal
def _mint_for(_gauge: address, _for: address):
    assert self.gauges[_gauge]  # dev: gauge is not added

    extcall LiquidityGauge(_gauge).user_checkpoint(_for)
    total_mint: uint256 = staticcall LiquidityGauge(_gauge).integrate_fraction(_for)
    to_mint: uint256 = total_mint - self.minted[_for][_gauge]

    if to_mint != 0:
        extcall MERC20(self.token).mint(_for, to_mint)
        self.minted[_for][_gauge] = total_mint

        log Minted(recipient=_for, gauge=_gauge, minted=total_mint)


@external
@nonreentrant
def mint(gauge_addr: address):
    self._mint_for(gauge_addr, msg.sender)


@external
@nonreentrant
def mint_many(gauge_addrs: address[8]):
    for i: uint256 in range(8):
        if gauge_addrs[i] == empty(address):
            break
        self._mint_for(gauge_addrs[i], msg.sender)


@external
@nonreentrant
def mint_for(gauge_addr: address, _for: address):
    if self.allowed_to_mint_for[msg.sender][_for]:
        self._mint_for(gauge_addr, _for)


@external
def toggle_approve_mint(minting_user: address):
    self.allowed_to_mint_for[minting_user][msg.sender] = not self.allowed_to_mint_for[minting_user][msg.sender]
