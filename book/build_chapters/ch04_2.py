"""4.2 自然语言处理：循环神经网络 → chapters/ch04_2_rnn.ipynb  (run: .venv/bin/python book/build_chapters/ch04_2.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 4.2 自然语言处理：循环神经网络

文字、语音、股价、传感器读数都是**序列**：同一种东西按时间先后排成一列，前面的内容影响后面的内容。
前面几章的网络只接受固定大小的输入；要读一句长短不定的话，需要一种能"边读边记"的网络。
**循环神经网络**（recurrent neural network，RNN）就是这样的网络：它在每个时间步读入一个元素，把读过的内容压缩进一个**隐藏状态** $h_t$，再带着它去读下一个元素 {cite}`elman1990finding`。

源文档用一段 PyTorch 代码给出了一个基于 LSTM 的语言模型 `RNNModel`。本节把它背后的东西逐一打开：

- **4.2.1** 循环的计算式、每个符号的形状、按时间展开的计算图；
- **4.2.2** 随时间反向传播（BPTT）的推导，用十几行 NumPy 实现，并与 nnlib、PyTorch 对照；
- **4.2.3** 梯度为什么会随时间消失或爆炸：在本机的 CPU 或 GPU 上实际测量 RNN、LSTM、GRU 里 $\lVert \partial J / \partial h_t \rVert$ 随 $t$ 的变化；
- **4.2.4** LSTM 与 GRU 的门，按 PyTorch 的约定写出全部公式；
- **4.2.5** 源文档的 `RNNModel`：把它的 PyTorch 权重装进 nnlib，比较输出和全部梯度；"只用最后一步做预测"意味着什么；
- **4.2.6** 在本书自带的宋词语料上训练一个字符级语言模型：困惑度曲线、训练前后用不同温度生成的文字；
- **4.2.7**（可选）在 Penn Treebank 上训练词级语言模型。
"""),
    code(r"""
import inspect
import math
import re
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
import ipywidgets as widgets
from IPython.display import display

import nnlib
from nnlib import nn, optim, text
from nnlib.models import RNNModel, RNNLanguageModel, perplexity

DEVICE = nnlib.best_device()       # 有 GPU 时是 "cuda"，否则是 torch 的 "cpu"（没有 torch 时是 "numpy"）
torch.set_num_threads(1)           # 本节的矩阵都很小：PyTorch 在 CPU 上用单线程反而更快（见 4.2.6 节）
print("本节的计算设备:", DEVICE)
"""),
]

# ---------------------------------------------------------------------------------------- 4.2.1
cells += [
    md(r"""
## 4.2.1 循环：每个时间步用同一组权重

设输入序列为 $x_1, x_2, \dots, x_T$，每个 $x_t \in \mathbb{R}^{D}$（例如一个字的词向量）。**Elman 网络**（最简单的 RNN）从 $h_0$（通常为零向量）出发，对 $t = 1, \dots, T$ 依次计算

$$
a_t = W_{ih}\, x_t + b_{ih} + W_{hh}\, h_{t-1} + b_{hh}, \qquad h_t = \tanh(a_t).
$$

| 符号 | 含义 | 形状 | nnlib / PyTorch 中的名字 |
|---|---|---|---|
| $x_t$ | 第 $t$ 步的输入 | $\mathbb{R}^{D}$ | `input[t]`（`input_size` $= D$）|
| $h_{t-1}, h_t$ | 上一步、这一步的隐藏状态 | $\mathbb{R}^{H}$ | `output[t]`（`hidden_size` $= H$）|
| $W_{ih}$ | 输入到隐藏状态的权重 | $\mathbb{R}^{H \times D}$ | `weight_ih_l0` |
| $W_{hh}$ | 隐藏状态到隐藏状态（"循环"）的权重 | $\mathbb{R}^{H \times H}$ | `weight_hh_l0` |
| $b_{ih}, b_{hh}$ | 两个偏置 | $\mathbb{R}^{H}$ | `bias_ih_l0`, `bias_hh_l0` |
| $a_t$ | 净输入 | $\mathbb{R}^{H}$ | （不保存）|

三点值得注意：

1. **所有时间步共用同一组 $W_{ih}, W_{hh}, b$**。这使网络能处理任意长度的序列，参数个数与 $T$ 无关：$H(D + H + 2)$。
2. 两个偏置 $b_{ih}$、$b_{hh}$ 总是相加，数学上等价于一个偏置；PyTorch 保留两个是为了与 cuDNN 的参数布局一致，nnlib 照搬，以便权重可以互相装载。
3. 源文档说 $h_t$ "依赖于当前输入 $x_t$ 和上一时刻的隐藏状态 $h_{t-1}$"，上式就是这句话的精确形式；由于 $h_{t-1}$ 又依赖 $x_{t-1}$ 和 $h_{t-2}$，$h_t$ 实际上概括了 $x_1, \dots, x_t$ 的全部内容。

**批量与布局。** 一批 $N$ 个序列时，第 $t$ 步的输入按行存放成 $X_t \in \mathbb{R}^{N \times D}$，计算式转置为 $H_t = \tanh(X_t W_{ih}^\top + H_{t-1} W_{hh}^\top + \mathbf{1} (b_{ih} + b_{hh})^\top)$（与 2.1 节的全连接层相同）。
整个输入是三维数组：默认 `(T, N, D)`（时间在前），`batch_first=True` 时为 `(N, T, D)`。层返回 `output`（每一步的 $h_t$，形状与输入对应）和 `h_n`（最后一步的 $h_T$，形状 `(num_layers, N, H)`）：
"""),
    code(r"""
rnn = nn.RNN(input_size=4, hidden_size=5)
print({name: tuple(v.shape) for name, v in rnn.state_dict().items()})
x = np.zeros((7, 3, 4), dtype=np.float32)          # T = 7 步，N = 3 个序列，D = 4
output, h_n = rnn(x)
print("output:", tuple(output.shape), " h_n:", tuple(h_n.shape))
print("output 的最后一步就是 h_n:", np.array_equal(output[-1], h_n[0]))
""", tags=[CHECK]),
    md(r"""
**`batch_first` 不改变状态的形状。** `batch_first=True` 只改变 `input` 和 `output` 的布局；初始状态 `h_0`（LSTM 还有 `c_0`）和返回的 `h_n`（`c_n`）**始终**是 `(num_layers × num_directions, N, H)`，批量在第二维（`num_directions` 对单向网络是 1、双向网络是 2；nnlib 只实现单向）。
按 `(N, num_layers, H)` 传入状态时，nnlib 和 PyTorch 都会报错；但若 $N$ 恰好等于 `num_layers`，形状碰巧对得上，程序不会报错，只会静默地算出错误的结果。4.2.5 节源文档的模型用的正是 `batch_first=True` 的 LSTM：
"""),
    code(r"""
lstm_bf = nn.LSTM(input_size=4, hidden_size=5, num_layers=2, batch_first=True)
x_bf = np.zeros((3, 7, 4), dtype=np.float32)                 # batch_first：N = 3 在前，T = 7
state0 = np.zeros((2, 3, 5), dtype=np.float32)               # 状态仍是 (num_layers, N, H)
out_bf, (h_bf, c_bf) = lstm_bf(x_bf, (state0, state0))
print("nnlib  : output", tuple(out_bf.shape), " h_n", tuple(h_bf.shape), " c_n", tuple(c_bf.shape))
t_lstm = torch.nn.LSTM(4, 5, num_layers=2, batch_first=True)
t_out, (t_h, t_c) = t_lstm(torch.from_numpy(x_bf), (torch.from_numpy(state0), torch.from_numpy(state0)))
print("PyTorch: output", tuple(t_out.shape), " h_n", tuple(t_h.shape), " c_n", tuple(t_c.shape))

wrong = np.zeros((3, 2, 5), dtype=np.float32)                # 错误的布局 (N, num_layers, H)
try:
    lstm_bf(x_bf, (wrong, wrong))
except nnlib.errors.ShapeError as err:
    print("nnlib 报错:", err)
try:
    t_lstm(torch.from_numpy(x_bf), (torch.from_numpy(wrong), torch.from_numpy(wrong)))
except RuntimeError:
    print("PyTorch 也报错（RuntimeError）")
""", tags=[CHECK]),
    md(r"""
**按时间展开。** 把循环"拉直"，每个时间步画一份同样的计算，就得到一张普通的计算图（下图）：它就像一个有 $T$ 层、每层共享权重的深层网络。
语言模型在每一步还要用 $h_t$ 预测下一个字：输出层 $\hat y_t = W_{hy} h_t + b_y$（`nn.Linear(H, V)`，$V$ 是词表大小），损失 $J_t$ 是 $\hat y_t$ 与真实下一个字的交叉熵，总损失 $J = \sum_t J_t$（实际训练时再除以预测的个数取平均）。
图中红色虚线是下一小节要推导的反向传播路线。
"""),
    code(r"""
def draw_unrolled(ax, steps=4):
    # 按时间展开的 RNN：x_t → h_t → ŷ_t → J_t，h_{t-1} → h_t；红色虚线是反向传播的 δ
    box = dict(boxstyle="round,pad=0.35", fc="white", ec="k")
    arrow = dict(arrowstyle="->", color="k", lw=1.2)
    back = dict(arrowstyle="->", color="C3", lw=1.4, ls="--")
    ax.text(0, 1, "$h_0$", ha="center", va="center", fontsize=13, bbox=box)
    for t in range(1, steps + 1):
        xpos = 2.2 * t
        ax.text(xpos, 0, f"$x_{t}$", ha="center", va="center", fontsize=13, bbox=box)
        ax.text(xpos, 1, f"$h_{t}$", ha="center", va="center", fontsize=13, bbox=dict(box, fc="#dbe9f6"))
        ax.text(xpos, 2, rf"$\hat y_{t}$", ha="center", va="center", fontsize=13, bbox=box)
        ax.text(xpos, 3, f"$J_{t}$", ha="center", va="center", fontsize=13, bbox=dict(box, fc="#fde0c5"))
        ax.annotate("", (xpos, 0.78), (xpos, 0.22), arrowprops=arrow)
        ax.annotate("", (xpos, 1.78), (xpos, 1.22), arrowprops=arrow)
        ax.annotate("", (xpos, 2.78), (xpos, 2.22), arrowprops=arrow)
        ax.text(xpos + 0.08, 0.5, "$W_{ih}$", fontsize=10, va="center")
        ax.text(xpos + 0.08, 1.5, "$W_{hy}$", fontsize=10, va="center")
        ax.annotate("", (xpos - 0.35, 1.05), (xpos - 2.2 + 0.35, 1.05), arrowprops=arrow)
        ax.text(xpos - 1.1, 1.17, "$W_{hh}$", fontsize=10, ha="center")
        ax.annotate("", (xpos - 2.2 + 0.35, 0.9), (xpos - 0.35, 0.9), arrowprops=back)   # δ 经 W_hhᵀ 回到上一步
        ax.annotate("", (xpos - 0.12, 1.22), (xpos - 0.12, 2.78), arrowprops=dict(back, connectionstyle="arc3,rad=0.25"))
    ax.text(2.2 * steps + 1.0, 1, "…", fontsize=18, va="center")
    ax.text(2.2 * steps + 1.5, 3, r"$J = \sum_t J_t$", fontsize=13, va="center")
    ax.text(-0.4, -0.6, r"红色虚线：误差信号 $\delta$ 从每个 $J_t$ 回到 $h_t$，再沿 $W_{hh}^\top$ 和 $\tanh'$ 一步步传回前面的时间步",
            color="C3", fontsize=11, ha="left", va="center")
    ax.set_xlim(-0.6, 2.2 * steps + 3.2)
    ax.set_ylim(-0.85, 3.4)
    ax.axis("off")


fig, ax = plt.subplots(figsize=(12, 4.2))
draw_unrolled(ax)
ax.set_title("按时间展开的循环神经网络：每一列是同一组权重在第 t 步的计算")
plt.show()
""", tags=["hide-input"]),
]

# ---------------------------------------------------------------------------------------- 4.2.2
cells += [
    md(r"""
## 4.2.2 随时间反向传播（BPTT）

展开后的图是一个普通的计算图，所以反向传播（3.2 节）可以原样使用。唯一的新情况是**同一个参数出现在每一个时间步**。
这种在展开图上做反向传播的方法叫**随时间反向传播**（backpropagation through time，BPTT）{cite}`werbos1990backpropagation`。

**误差信号。** 仿照 3.2 节，定义损失对隐藏状态和净输入的梯度

$$
\delta_t = \frac{\partial J}{\partial h_t} \in \mathbb{R}^{H}, \qquad \delta^a_t = \frac{\partial J}{\partial a_t} = \delta_t \odot \tanh'(a_t) = \delta_t \odot (1 - h_t \odot h_t).
$$

注意 $\delta_t$ 是对 $h_t$ 的**全**导数：$h_t$ 通过两条路影响 $J$——向上进入本步的输出 $\hat y_t$（从而 $J_t$），向右进入下一步的净输入 $a_{t+1} = \dots + W_{hh} h_t + \dots$（从而 $J_{t+1}, J_{t+2}, \dots$）。两条路的贡献相加：

$$
\boxed{\;\delta_t = \frac{\partial J_t}{\partial h_t} + W_{hh}^\top\, \delta^a_{t+1}\;}, \qquad t = T, T-1, \dots, 1, \qquad \delta^a_{T+1} = 0 .
$$

第一项是输出层传回来的（$W_{hy}^\top$ 乘以 $\hat y_t$ 处的误差，与 3.2 节完全相同）；第二项与 3.2 节的 $\delta^{(l)} = \sigma'(z^{(l)}) \odot (W^{(l+1)})^\top \delta^{(l+1)}$ 是同一个形状的递推，只是"层"换成了"时间步"，而且每一步乘的都是**同一个** $W_{hh}^\top$。

**参数的梯度。** $W_{hh}$ 在每一步都被使用一次。把展开图中第 $t$ 步的那份拷贝记作 $W_{hh}^{[t]}$，则 $J$ 对共享参数的梯度是对各份拷贝梯度的**和**（多元链式法则：$W_{hh}$ 变化时所有拷贝同时变化）：

$$
\frac{\partial J}{\partial W_{hh}} = \sum_{t=1}^{T} \delta^a_t\, h_{t-1}^\top, \qquad
\frac{\partial J}{\partial W_{ih}} = \sum_{t=1}^{T} \delta^a_t\, x_t^\top, \qquad
\frac{\partial J}{\partial b_{ih}} = \frac{\partial J}{\partial b_{hh}} = \sum_{t=1}^{T} \delta^a_t, \qquad
\frac{\partial J}{\partial x_t} = W_{ih}^\top \delta^a_t, \qquad
\frac{\partial J}{\partial h_0} = W_{hh}^\top \delta^a_1 .
$$

形状：$\delta^a_t h_{t-1}^\top \in \mathbb{R}^{H \times H}$，与 $W_{hh}$ 相同。批量时（按行存放）每个 $\delta^a_t h_{t-1}^\top$ 变成 $(\Delta^a_t)^\top H_{t-1}$，即再对批量求和。

**算法。** 前向时保存所有 $h_t$；反向时从 $t = T$ 走到 $t = 1$，每一步先把"来自上方"的 $\partial J_t / \partial h_t$ 和"来自右方"的 $W_{hh}^\top \delta^a_{t+1}$ 相加得到 $\delta_t$，再乘 $\tanh'$ 得到 $\delta^a_t$。
所有参数梯度都是对 $t$ 的求和，可以在循环结束后用一次矩阵乘法算完。逐行照抄成 NumPy：
"""),
    code(r"""
def rnn_forward(X, h0, W_ih, W_hh, b_ih, b_hh):
    # X: (T, N, D)，h0: (N, H)。返回所有隐藏状态 hs[0..T]，hs[0] = h0
    hs = [h0]
    for t in range(len(X)):
        hs.append(np.tanh(X[t] @ W_ih.T + b_ih + hs[-1] @ W_hh.T + b_hh))
    return np.stack(hs)


def rnn_bptt(X, hs, dY, W_ih, W_hh):
    # dY[t] = ∂J/∂h_t 中"来自上方"的部分（形状 (T, N, H)）。返回全部梯度
    T = len(X)
    da = np.zeros_like(dY)                     # δa_t，t = 1..T（下标从 0 开始存）
    delta_next = np.zeros_like(dY[0])          # W_hhᵀ δa_{t+1}，t = T 时为 0
    for t in reversed(range(T)):
        delta = dY[t] + delta_next             # δ_t = ∂J_t/∂h_t + W_hhᵀ δa_{t+1}
        da[t] = delta * (1 - hs[t + 1] ** 2)   # δa_t = δ_t ⊙ tanh'(a_t)
        delta_next = da[t] @ W_hh              # 批量按行存放：(W_hhᵀ δa)ᵀ = δaᵀ W_hh
    flat = lambda A: A.reshape(-1, A.shape[-1])
    return {"input": da @ W_ih,                                   # ∂J/∂x_t = W_ihᵀ δa_t
            "h0": delta_next,                                     # ∂J/∂h_0 = W_hhᵀ δa_1
            "weight_ih_l0": flat(da).T @ flat(X),                 # Σ_t δa_t x_tᵀ
            "weight_hh_l0": flat(da).T @ flat(hs[:-1]),           # Σ_t δa_t h_{t-1}ᵀ
            "bias_ih_l0": flat(da).sum(axis=0),
            "bias_hh_l0": flat(da).sum(axis=0)}
"""),
    md(r"""
用三种独立的方法求同一个损失的梯度：上面的从零实现、nnlib 的 `nn.RNN`（它的 `backward` 做同样的事）、PyTorch 的 `torch.nn.RNN` 加自动微分。
为了让每一步都有"来自上方"的梯度，取 $J = \sum_{t,n,j} R_{tnj}\, (h_t)_{nj}$，$R$ 是固定的随机数组，于是 $\partial J_t / \partial h_t = R_t$。全部用 float64：
"""),
    code(r"""
rng = np.random.default_rng(0)
T, N, D, H = 6, 3, 4, 5
X = rng.standard_normal((T, N, D))
h0 = rng.standard_normal((1, N, H))
R = rng.standard_normal((T, N, H))                 # J = Σ R ⊙ output，所以 ∂J/∂output = R

nnlib.manual_seed(0)
rnn = nn.RNN(D, H, dtype="float64")
W = {k: v.copy() for k, v in rnn.state_dict().items()}

hs = rnn_forward(X, h0[0], W["weight_ih_l0"], W["weight_hh_l0"], W["bias_ih_l0"], W["bias_hh_l0"])
mine = rnn_bptt(X, hs, R, W["weight_ih_l0"], W["weight_hh_l0"])

out, h_n = rnn(X, h0)
rnn.zero_grad()
dX, dh0 = rnn.backward((R, None))
ours = {"input": dX, "h0": dh0[0], **{name: p.grad for name, p in rnn.named_parameters()}}

t_rnn = torch.nn.RNN(D, H).double()
t_rnn.load_state_dict({k: torch.from_numpy(v) for k, v in W.items()})
tX, th0 = torch.tensor(X, requires_grad=True), torch.tensor(h0, requires_grad=True)
t_out, _ = t_rnn(tX, th0)
(t_out * torch.from_numpy(R)).sum().backward()
theirs = {"input": tX.grad.numpy(), "h0": th0.grad[0].numpy(),
          **{name: p.grad.numpy() for name, p in t_rnn.named_parameters()}}

print("前向：从零实现的 h_1..h_T 与 nnlib 一致:", np.allclose(hs[1:], out, rtol=0, atol=1e-12),
      "  与 PyTorch 一致:", np.allclose(hs[1:], t_out.detach().numpy(), rtol=0, atol=1e-12))
table = nnlib.gradcheck.compare({"从零实现": mine, "nnlib": ours, "torch.autograd": theirs}, rtol=1e-10, atol=1e-12)
print("全部梯度在 rtol=1e-10 内一致:", table.passed)
""", tags=[CHECK]),
    code(r"""
table
"""),
    md(r"""
nnlib 的 `RNN._layer_backward` 就是同一个循环（它还顺手把每一步的 $\delta_t$ 存进 `hidden_grads`，下一小节要用；$\tanh'$ 用 $1 - h_t^2$ 一次算出所有时间步；参数梯度在循环结束后由 `_accumulate` 用一次矩阵乘法求和）：
"""),
    code(r"""
print(inspect.getsource(nn.RNN._layer_backward))
"""),
]

# ---------------------------------------------------------------------------------------- 4.2.3
cells += [
    md(r"""
## 4.2.3 梯度为什么会随时间消失或爆炸

设损失只依赖最后一步，$J = J_T(h_T)$。把递推式展开 $T - t$ 次：

$$
\delta_t = \left(\frac{\partial h_T}{\partial h_t}\right)^{\!\top} \delta_T, \qquad
\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}} = \prod_{k=t+1}^{T} \operatorname{diag}\!\bigl(1 - h_k \odot h_k\bigr)\, W_{hh} .
$$

记 $\gamma$ 为激活函数导数绝对值的上界：$\tanh' = 1 - \tanh^2 \in (0, 1]$，所以 $\gamma = 1$（sigmoid 则是 $\gamma = 1/4$）。每个因子的谱范数（最大奇异值）不超过 $\gamma \lVert W_{hh} \rVert_2$，其中 $\lVert W_{hh} \rVert_2$ 是 $W_{hh}$ 的最大奇异值，于是

$$
\lVert \delta_t \rVert \le \bigl(\gamma \lVert W_{hh} \rVert_2\bigr)^{T-t}\, \lVert \delta_T \rVert \overset{\tanh}{=} \lVert W_{hh} \rVert_2^{\,T-t}\, \lVert \delta_T \rVert .
$$

这个上界给出两个结论 {cite}`pascanu2013difficulty`：

- **梯度消失的充分条件**：$\gamma \lVert W_{hh} \rVert_2 < 1$（对 $\tanh$ 即 $\lVert W_{hh} \rVert_2 < 1$）时，无论输入是什么，**梯度都随时间距离指数衰减**：第 $T$ 步的损失几乎无法影响对很早的输入的处理，网络学不到长距离的依赖。这就是**梯度消失**；$\tanh$ 饱和（$h_k$ 接近 $\pm 1$，$\tanh'$ 远小于 1）时衰减得更快。
- **梯度爆炸的必要条件**：若 $\gamma \lVert W_{hh} \rVert_2 \le 1$，上界保证 $\lVert \delta_t \rVert \le \lVert \delta_T \rVert$，梯度不可能增长。所以梯度要**指数增长**（梯度爆炸），必须有 $\gamma \lVert W_{hh} \rVert_2 > 1$（对 $\tanh$ 即 $\lVert W_{hh} \rVert_2 > 1$）。这个条件不是充分的：$\lVert W_{hh} \rVert_2 > 1$ 时梯度可能增长，也可能因 $\tanh$ 饱和而照样衰减。梯度一旦爆炸，一步更新就可能把参数推得很远。

两个条件说的都是最大奇异值 $\lVert W_{hh} \rVert_2$，而不是谱半径 $\rho(W_{hh})$（特征值绝对值的最大者）。总有 $\rho(W_{hh}) \le \lVert W_{hh} \rVert_2$，对非正规矩阵还可能严格小于：谱半径小于 1 的矩阵，连乘若干次的范数仍可能先变大。对正交矩阵的倍数（下面实验中的 $1.5 \times$ 正交矩阵）两者相等。

Bengio 等人在 1994 年就指出了这一困难 {cite}`bengio1994learning`，Pascanu 等人给出了上面的分析，并提出用**梯度裁剪**对付爆炸 {cite}`pascanu2013difficulty`（4.2.6 节的训练会用到）。
与 3.2.5 节的深层网络相比，RNN 的问题更严重：深层网络每层的 $W^{(l)}$ 各不相同，而 RNN 反复乘的是**同一个**矩阵，$T$ 又常常是几十到几百。

**LSTM 与 GRU 的对策**（公式见 4.2.4 节）是在时间方向上开一条**加法**通路。LSTM 的记忆单元 $c_t = f_t \odot c_{t-1} + i_t \odot g_t$ 对 $c_{t-1}$ 的偏导（沿这条直接路径）只是 $\operatorname{diag}(f_t)$——没有 $W_{hh}$、也没有 $\tanh'$。
遗忘门 $f_t$ 接近 1 时，梯度可以几乎不衰减地传回很多步 {cite}`hochreiter1997long`（练习 1 推导一步 LSTM 的反向传播，验证这一点）。GRU 的 $h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$ 同样有一条直接路径 $\operatorname{diag}(z_t)$。

**测一测。** 下面的函数建一个单层 RNN、LSTM 或 GRU（$D = 16$，$H = 64$，批量 16，随机输入），令 $J = \sum R \odot h_T$ 只依赖最后一步，打开 `record_hidden_grads` 让 nnlib 在反向传播时保存每一步的 $\delta_t = \partial J / \partial h_t$，返回 $\lVert \delta_t \rVert$（对批量取平均）。计算在 `DEVICE` 上进行：有 GPU 时就在 GPU 上。
"""),
    code(r"""
def hidden_grad_norms(cell="rnn", T=100, device=DEVICE, gate_bias=0.0, whh_gain=None, D=16, H=64, N=16, seed=0):
    # ‖∂J/∂h_t‖（批量平均），t = 1..T；J = Σ R ⊙ h_T 只依赖最后一步
    rng = np.random.default_rng(seed)
    nnlib.manual_seed(seed)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](D, H, dtype="float64")   # PyTorch 的默认初始化
    if gate_bias:                     # 第 2 块 H 行：LSTM 的遗忘门 f，GRU 的更新门 z（门的顺序见 4.2.4 节）
        layer.bias_ih_l0.data[H:2 * H] += gate_bias
    if whh_gain is not None:          # W_hh = 增益 × 随机正交矩阵：所有奇异值都等于增益
        layer.weight_hh_l0.data[...] = whh_gain * np.linalg.qr(rng.standard_normal((H, H)))[0]
    layer.to(device)
    layer.record_hidden_grads = True
    x = nnlib.to_device(rng.standard_normal((T, N, D)), device)       # float64：很小的梯度也不会下溢成 0
    layer(x)
    grad_out = np.zeros((T, N, H))
    grad_out[-1] = rng.standard_normal((N, H))                               # 只有 h_T 直接影响 J
    layer.backward((nnlib.to_device(grad_out, device), None))
    delta = nnlib.to_numpy(layer.hidden_grads[0])                            # (T, N, H)：每一步的 δ_t
    return np.linalg.norm(delta, axis=2).mean(axis=1)


T_LONG = 100
settings = {
    "RNN（默认初始化）": dict(cell="rnn"),
    "LSTM（默认初始化）": dict(cell="lstm"),
    "GRU（默认初始化）": dict(cell="gru"),
    "LSTM，遗忘门偏置 +3": dict(cell="lstm", gate_bias=3.0),
    "GRU，更新门偏置 +3": dict(cell="gru", gate_bias=3.0),
    "RNN，W_hh = 1.5 × 正交矩阵": dict(cell="rnn", whh_gain=1.5),
}
start = time.perf_counter()
norms = {name: hidden_grad_norms(T=T_LONG, **kw) for name, kw in settings.items()}
print(f"6 次前向 + 反向（T = {T_LONG}）在 {DEVICE} 上用了 {time.perf_counter() - start:.2f} 秒")
"""),
    code(r"""
def plot_grad_norms(ax, curves, styles=None):
    for name, v in curves.items():
        t = np.arange(1, len(v) + 1)
        ax.semilogy(t, np.maximum(v, 1e-300), lw=2, **(styles or {}).get(name, {}), label=name)
    ax.set_xlabel("时间步 t（损失在最后一步 t = T）")
    ax.set_ylabel(r"$\|\partial J / \partial h_t\|$（对数坐标）")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9)


names = list(norms)
colors = {"rnn": "C0", "lstm": "C1", "gru": "C2"}                      # 同一种单元同一种颜色
styles = {n: dict(color=colors[settings[n]["cell"]], ls="-" if i < 3 else "--") for i, n in enumerate(names)}
fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), sharey=True)
plot_grad_norms(axes[0], {n: norms[n] for n in names[:3]}, styles)
axes[0].set_title("PyTorch 默认初始化：三种单元的梯度都随距离指数衰减")
plot_grad_norms(axes[1], {n: norms[n] for n in names[3:]}, styles)
axes[1].set_title("门偏置让 f、z ≈ 0.95：梯度传得很远；W_hh 过大：梯度增长")
fig.tight_layout()
plt.show()
"""),
    md(r"""
每条曲线从右端（$t = T$，损失所在处）往左读，就是误差信号往回传播的过程。下面打印第 1 步与最后一步的比值 $\lVert \delta_1 \rVert / \lVert \delta_T \rVert$ 的数量级（$\log_{10}$ 四舍五入到整数 $k$，即约为 $10^k$）：
"""),
    code(r"""
for name, v in norms.items():
    print(f"{name:<24} ‖δ_1‖/‖δ_T‖ ≈ 10^{round(math.log10(v[0] / v[-1]))}")
""", tags=[CHECK]),
    md(r"""
几点观察：

- **默认初始化下，LSTM 和 GRU 只比 RNN 好一点**：在对数坐标下三条曲线都是直线，即每往回一步都乘上一个大致不变的因子；往回 99 步后，RNN 只剩约 $10^{-26}$，LSTM 和 GRU 也只剩约 $10^{-20}$、$10^{-19}$，平均每步的因子分别约为 $10^{-26/99} \approx 0.55$ 和 $10^{-20/99} \approx 0.63$。
  原因是门在初始化时都在 $\sigma(0) = 0.5$ 附近：LSTM 的直接路径每步乘 $f_t \approx 0.5$，GRU 乘 $z_t \approx 0.5$，与 RNN 的 $\operatorname{diag}(\tanh') W_{hh}$ 差不多小。
  所以"LSTM 解决了梯度消失"并不是说它的梯度**自动**不衰减，而是说衰减的速度由**可以学习**的门控制：网络只要学会把 $f_t$ 调到接近 1，就能把信息和梯度保留很多步；RNN 则没有这样一个旋钮。
- **把遗忘门（更新门）的偏置加 3**，初始时 $f_t, z_t \approx \sigma(3) \approx 0.95$，梯度传回 99 步后仍保留百分之几（约 $10^{-1}$ 到 $10^{-2}$），曲线几乎是平的。给遗忘门一个正的初始偏置（常用 +1）是训练 LSTM 的常见做法 {cite}`gers2000learning,jozefowicz2015empirical`。
- **RNN 的 $W_{hh}$ 取 1.5 倍正交矩阵**（所有奇异值都是 1.5，满足上面的必要条件）时，梯度往回越传越大，到第 1 步已增长了约一个数量级（$10^{1}$）——这就是梯度爆炸。由于 $\tanh$ 的饱和（$\tanh' < 1$ 抵消了一部分），增长比上界 $1.5^{99}$ 慢得多；但只要每步的平均因子大于 1，序列越长，累积的增长就越大。

**自己试试。** 在 Jupyter、JupyterLab 或 Colab 中运行时，下面的控件可以改变单元类型、序列长度、门偏置和计算设备（有 GPU 时列出 `cuda`），图会立刻重画；网页版只显示默认设置下的结果。
"""),
    code(r"""
def explore(cell, T, gate_bias, device):
    v = hidden_grad_norms(cell, T=T, device=device, gate_bias=gate_bias)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    plot_grad_norms(ax, {f"{cell.upper()}，门偏置 {gate_bias:+.1f}（T = {T}，{device}）": v})
    plt.show()


controls = widgets.interactive(
    explore,
    cell=widgets.Dropdown(options=[("RNN", "rnn"), ("LSTM", "lstm"), ("GRU", "gru")], value="lstm", description="单元"),
    T=widgets.IntSlider(value=100, min=10, max=300, step=10, description="序列长度 T", continuous_update=False),
    gate_bias=widgets.FloatSlider(value=0.0, min=-2.0, max=5.0, step=0.5, description="门偏置", continuous_update=False),
    device=widgets.Dropdown(options=nnlib.available_devices(), value=DEVICE, description="设备"),
)
display(controls)
"""),
]

# ---------------------------------------------------------------------------------------- 4.2.4
cells += [
    md(r"""
## 4.2.4 LSTM 与 GRU：用门控制信息的流动

下面的公式都采用 PyTorch（也就是 nnlib）的约定：每个门有自己的 $W_{i\cdot} \in \mathbb{R}^{H \times D}$、$W_{h\cdot} \in \mathbb{R}^{H \times H}$ 和两个偏置；$\sigma$ 是 sigmoid，取值在 $(0, 1)$，作为"开关的开度"与另一个向量逐元素相乘。

**长短期记忆网络（LSTM）** {cite}`hochreiter1997long` 除隐藏状态 $h_t$ 外还有一个**记忆单元** $c_t \in \mathbb{R}^{H}$：

$$
\begin{aligned}
i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) && \text{输入门：写入多少新内容}\\
f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) && \text{遗忘门：保留多少旧记忆}\\
g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) && \text{候选内容}\\
o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) && \text{输出门：读出多少}\\
c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t).
\end{aligned}
$$

四个门的权重**按 $i, f, g, o$ 的顺序上下堆叠**成 `weight_ih_l0` $= [W_{ii}; W_{if}; W_{ig}; W_{io}] \in \mathbb{R}^{4H \times D}$ 与 `weight_hh_l0` $\in \mathbb{R}^{4H \times H}$，偏置同理（$\in \mathbb{R}^{4H}$）。
这样每一步只需一次矩阵乘法就得到四个门的净输入，再按列切成四块。初始状态是一对 $(h_0, c_0)$，层返回 `output, (h_n, c_n)`。

**门控循环单元（GRU）** {cite}`cho2014learning` 没有单独的记忆单元，只用两个门：

$$
\begin{aligned}
r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) && \text{重置门}\\
z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) && \text{更新门}\\
n_t &= \tanh\bigl(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})\bigr) && \text{候选状态}\\
h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}.
\end{aligned}
$$

权重按 $r, z, n$ 的顺序堆叠（`weight_ih_l0` $\in \mathbb{R}^{3H \times D}$）。$z_t$ 接近 1 时保留旧状态，接近 0 时换成候选状态。

**注意：PyTorch 的 GRU 与 Cho 等人的原始公式不完全相同。** 原论文把重置门作用在 $h_{t-1}$ 上、**再**乘矩阵：$n_t = \tanh(W_{in} x_t + W_{hn} (r_t \odot h_{t-1}))$；
PyTorch（和 cuDNN）先算 $W_{hn} h_{t-1} + b_{hn}$、**再**乘 $r_t$，如上式。后一种写法让三个门的 $W_{h\cdot} h_{t-1}$ 可以用一次矩阵乘法一起算出，但两者是不同的函数：同一组权重在两种公式下给出不同的结果。
nnlib 采用 PyTorch 的写法，所以权重可以在两者之间互相装载。（$h_t$ 的写法 $(1 - z_t) \odot n_t + z_t \odot h_{t-1}$ 则与原论文一致；也有文献把 $z_t$ 和 $1 - z_t$ 对调。）

按上面的公式手算一步 LSTM，与 nnlib 比较（GRU 的一步留作练习 2）：
"""),
    code(r"""
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


nnlib.manual_seed(1)
lstm = nn.LSTM(input_size=3, hidden_size=4, dtype="float64")
rng = np.random.default_rng(1)
x1 = rng.standard_normal((2, 3))                                  # 一步：N = 2，D = 3
h_prev, c_prev = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))

a = x1 @ lstm.weight_ih_l0.data.T + lstm.bias_ih_l0.data + h_prev @ lstm.weight_hh_l0.data.T + lstm.bias_hh_l0.data
i, f, g, o = np.split(a, 4, axis=1)                               # PyTorch 的顺序：i, f, g, o
c_new = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
h_new = sigmoid(o) * np.tanh(c_new)

out, (h_n, c_n) = lstm(x1[None], (h_prev[None], c_prev[None]))   # 加上长度为 1 的时间维
print("weight_ih_l0:", lstm.weight_ih_l0.shape, " weight_hh_l0:", lstm.weight_hh_l0.shape, " bias_ih_l0:", lstm.bias_ih_l0.shape)
print("手算的 h_t 与 nnlib 一致:", np.allclose(h_new, h_n[0], rtol=0, atol=1e-12),
      "  c_t 一致:", np.allclose(c_new, c_n[0], rtol=0, atol=1e-12))
""", tags=[CHECK]),
    md(r"""
三种单元在同样大小下的参数个数（单层，$D = H = 128$）：每多一个"门"就多一组 $W_{i\cdot}, W_{h\cdot}$ 和两个偏置，所以 LSTM 是 RNN 的 4 倍，GRU 是 3 倍。每一步的计算量也大致按同样的比例增加。
"""),
    code(r"""
for cls in (nn.RNN, nn.GRU, nn.LSTM):
    layer = cls(128, 128)
    print(f"{cls.__name__:<5} 参数个数 {sum(p.numel() for p in layer.parameters()):>7,}")
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.2.5
cells += [
    md(r"""
## 4.2.5 源文档的 `RNNModel`

源文档给出的模型如下。它的 `nn` 是 `torch.nn`，而本书的 `nn` 是 nnlib 的，类名 `RNNModel` 也与 nnlib 的模型相同；为了逐字保留源文档的代码又不混淆两者，
这一格把它作为一段文本放进一个单独的命名空间 `doc` 里执行，再把这个 PyTorch 类取名为 `TorchRNNModel`：
"""),
    code(r'''
DOCUMENT_CODE = """
import torch.nn as nn

class RNNModel(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNModel, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h0, c0):
        embed = self.embed(x)
        out, (h, c) = self.rnn(embed, (h0, c0))
        out = self.fc(out[:, -1, :])
        return out, (h, c)
"""
doc = {}
exec(DOCUMENT_CODE, doc)                 # 源文档的代码，原样执行
TorchRNNModel = doc["RNNModel"]          # PyTorch 版；下文的 RNNModel 指 nnlib.models.RNNModel
print(TorchRNNModel(50, 8, 16, 2))
'''),
    md(r"""
逐层读一遍（$N$ 个序列，每个 $T$ 个词的编号，词表大小 $V$，`batch_first=True`）：

| 步骤 | 计算 | 输出形状 |
|---|---|---|
| 输入 `x` | 词的编号（整数） | $(N, T)$ |
| `self.embed(x)` | **词嵌入**：查表，第 $k$ 个词取矩阵 $E \in \mathbb{R}^{V \times E_d}$ 的第 $k$ 行 | $(N, T, E_d)$ |
| `self.rnn(embed, (h0, c0))` | `num_layers` 层 LSTM，第 $l$ 层的输入是第 $l-1$ 层每一步的 $h_t$ | `out`: $(N, T, H)$；`h`, `c`: $(L, N, H)$ |
| `out[:, -1, :]` | 只取**最后一步**的隐藏状态 $h_T$ | $(N, H)$ |
| `self.fc(...)` | 线性层：每个词一个分数 | $(N, V)$ |

虽然输入是 `batch_first=True` 的 $(N, T)$，传给 `forward` 的 `h0`、`c0` 以及返回的 `h`、`c` 仍然是 $(L, N, H)$：`batch_first` 不改变状态的形状（4.2.1 节）。

查表 $E[k]$ 等于独热向量 $e_k^\top$ 乘 $E$，所以嵌入层就是一个输入为独热向量、没有偏置的全连接层；反向传播时，每个位置的误差信号加到它所查的那一行上（同一个词出现多次就加多次）。

nnlib 的 `nnlib.models.RNNModel` 由 nnlib 的 `Embedding`、`LSTM`、`Linear` 搭成，属性名和 `state_dict` 的键与源文档的类完全相同，所以 PyTorch 模型的权重可以直接装进来：
"""),
    code(r"""
print(inspect.getsource(RNNModel.forward))
print(inspect.getsource(RNNModel.backward))
"""),
    code(r"""
V, E_d, H, L = 50, 8, 16, 2                      # 小尺寸，方便在 float64 下比较
N, T = 3, 7
torch.manual_seed(0)
torch_model = TorchRNNModel(V, E_d, H, L).double()
model = RNNModel(V, E_d, H, L, dtype="float64")
model.load_state_dict(torch_model.state_dict())  # PyTorch 的张量直接装进 nnlib
print(model)
print(list(model.state_dict()) == list(torch_model.state_dict()))

rng = np.random.default_rng(0)
ids = rng.integers(0, V, size=(N, T))
h0, c0 = rng.standard_normal((L, N, H)), rng.standard_normal((L, N, H))
out, (h, c) = model(ids, h0, c0)
with torch.no_grad():
    t_out, (t_h, t_c) = torch_model(torch.from_numpy(ids), torch.from_numpy(h0), torch.from_numpy(c0))
outputs = nnlib.gradcheck.compare({"nnlib": {"out": out, "h": h, "c": c},
                                   "PyTorch": {"out": t_out.numpy(), "h": t_h.numpy(), "c": t_c.numpy()}},
                                  rtol=1e-10, atol=1e-12, what="output")
print("out 形状:", tuple(out.shape), " h、c 形状:", tuple(h.shape), tuple(c.shape))
print("out、h、c 与 PyTorch 一致（rtol=1e-10）:", outputs.passed)
""", tags=[CHECK]),
    md(r"""
**全部梯度。** 取 $J = \sum R_1 \odot \text{out} + \sum R_2 \odot h + \sum R_3 \odot c$（$R_i$ 是固定的随机数组），让输出和最终状态都参与损失。
`nnlib.gradcheck.analytic_gradients` 调用 nnlib 手写的 `backward`，`autograd_gradients` 用 PyTorch 的自动微分，两者用同一组 $R$；比较的是 11 个参数的梯度以及对 $h_0$、$c_0$ 的梯度（词的编号是整数，没有梯度）：
"""),
    code(r"""
inputs = (ids, h0, c0)
grads = nnlib.gradcheck.compare({"nnlib": nnlib.gradcheck.analytic_gradients(model, inputs),
                                 "torch.autograd": nnlib.gradcheck.autograd_gradients(torch_model, inputs)},
                                rtol=1e-10, atol=1e-12)
print(f"比较了 {len(grads.rows)} 个梯度（input[1] = ∂J/∂h0，input[2] = ∂J/∂c0），全部在 rtol=1e-10 内一致:", grads.passed)
""", tags=[CHECK]),
    code(r"""
grads
"""),
    md(r"""
### 只用最后一步做预测意味着什么

`out = self.fc(out[:, -1, :])` 让源文档的模型对**每个序列只做一次预测**：读完 $T$ 个词以后，预测第 $T+1$ 个词。前面 $T - 1$ 步的隐藏状态只是"中间结果"，不直接接受监督。
反向传播时，输出层的误差信号只送进最后一步（nnlib 的 `backward` 里 `d_seq[:, -1, :] = d_last`，其余各步为 0），再由 BPTT 传回前面的步——正是 4.2.3 节里那种"只有最后一步有损失"的情形。

这适合**一个序列对应一个标签**的任务（例如判断一句话的情感）。语言模型则想要**每个位置**都预测下一个词：长度为 $T$ 的窗口同时提供 $T$ 个训练样本（"春" → "风"，"春风" → "又"，……），而 LSTM 部分的计算量完全不变（它本来就要算出每一步的 $h_t$），多出来的只是输出层要对每一步各算一次。
`nnlib.models.RNNLanguageModel` 就是这样的模型：同样的三层、同样的 `state_dict` 键，只是把 `fc` 作用在**所有** $T$ 步上，输出形状 $(N, T, V)$。
把源文档模型的权重装进它，它最后一步的输出与源文档模型的 `out` 相同：
"""),
    code(r"""
lm = RNNLanguageModel(V, E_d, H, L, dtype="float64")
lm.load_state_dict(model.state_dict())            # 同样的键：embed.*, rnn.*, fc.*
logits, (lm_h, lm_c) = lm(ids, (h0, c0))
print("RNNModel 的 out:", tuple(out.shape), "   RNNLanguageModel 的 logits:", tuple(logits.shape))
print("logits[:, -1] 就是 RNNModel 的 out:", np.allclose(logits[:, -1], out, rtol=0, atol=1e-12))
print(f"每个窗口的监督信号：RNNModel {N} 个，RNNLanguageModel {N * T} 个")
""", tags=[CHECK]),
]

# ---------------------------------------------------------------------------------------- 4.2.6
cells += [
    md(r"""
## 4.2.6 训练一个字符级语言模型：宋词

**语言模型**给一段文字 $w_1 w_2 \cdots w_M$ 一个概率，按概率的链式法则分解成"逐个预测下一个词"：

$$
P(w_1, \dots, w_M) = \prod_{t=1}^{M} P(w_t \mid w_1, \dots, w_{t-1}).
$$

RNN 在第 $t$ 步读入 $w_t$、输出对 $w_{t+1}$ 的预测分布 $\operatorname{softmax}(\hat y_t)$，所以它可以处理任意长的上文 {cite}`mikolov2010recurrent`。中文可以直接以**字**为单位建模，不需要分词。

**语料。** nnlib 自带一个小语料：4111 首宋词（公有领域；来源与许可证见 `nnlib/corpora/README.md`），每行一首，格式为 `《词牌》正文`。`nnlib.text.char_corpus` 按整首随机分出 10% 作验证集（同一首词不会被拆到两边），只用训练集建字表。
为了让本节在两个 CPU 核上一分钟内跑完，字表只保留最常见的 1000 个字（含换行符），其余的字记作 `<unk>`：
"""),
    code(r"""
RUN_LONG_TRAINING = False     # 改成 True：更大的字表和模型、约 5 遍训练集（单线程 CPU 上约 3 分钟，见本节末）

if RUN_LONG_TRAINING:
    VOCAB_SIZE, EMBED, HIDDEN, STEPS, LR = 2000, 64, 256, 1500, 3e-3
else:
    VOCAB_SIZE, EMBED, HIDDEN, STEPS, LR = 1000, 64, 128, 296, 5e-3
BATCH, SEQ_LEN, MAX_NORM = 32, 32, 1.0

vocab, train_ids, valid_ids = text.char_corpus(max_size=VOCAB_SIZE)
train_text, valid_text = vocab.decode(train_ids), vocab.decode(valid_ids)     # 每首词以换行结尾
print(vocab)
print(f"共 {train_text.count(chr(10)) + valid_text.count(chr(10))} 首：训练集 {train_text.count(chr(10))} 首，验证集 {valid_text.count(chr(10))} 首")
print(f"训练集 {len(train_ids):,} 字，验证集 {len(valid_ids):,} 字")
print(f"<unk> 占训练集 {np.mean(train_ids == vocab.unk_id):.0%}，占验证集 {np.mean(valid_ids == vocab.unk_id):.0%}")
print(vocab.decode(train_ids[:60]))
""", tags=[CHECK]),
    md(r"""
**截断的 BPTT。** 30 万字的训练集不可能展开成一个 30 万步的计算图。`text.batchify` 把整个字串切成 $N = 32$ 条等长的"流"（32 行的数组，每行是连续的一段文字），`text.bptt_batches` 每次取每条流接下来的 $T = 32$ 个字作输入 `x`、它们各自的下一个字作目标 `y`。
每个窗口的最终状态 $(h, c)$ 作为下一个窗口的初始状态传下去，所以模型能"看见"窗口以外的上文；但反向传播只在窗口内进行，最多回溯 32 步——这就是**截断的** BPTT。
（PyTorch 里要对传下去的状态调用 `.detach()` 来截断计算图；nnlib 不建计算图，每次 `backward` 本来就只回到本窗口的开头。）

每条流有 $\lfloor 302533 / 32 \rfloor = 9454$ 个字（余下的 5 个字丢掉），一遍训练集是 $\lceil 9453 / 32 \rceil = 296$ 个窗口（最后一个窗口只有 13 步）：
"""),
    code(r"""
train_streams = text.batchify(train_ids, BATCH, DEVICE)        # (32, 9454)：32 条流
valid_streams = text.batchify(valid_ids, BATCH, DEVICE)
valid_curve_streams = text.batchify(valid_ids[:8192], 16, DEVICE)   # 训练中画曲线用：验证集的前 8192 字
x, y = next(text.bptt_batches(train_streams, SEQ_LEN))
print("流:", tuple(train_streams.shape), "  一个窗口 x:", tuple(x.shape), " y:", tuple(y.shape))
print("x 的第 1 行:", vocab.decode(x[0]))
print("y 的第 1 行:", vocab.decode(y[0]), "（向后错一个字）")
windows = [x.shape[1] for x, _ in text.bptt_batches(train_streams, SEQ_LEN)]
print(f"一遍训练集: {len(windows)} 个窗口，最后一个窗口 {windows[-1]} 步")
""", tags=[CHECK]),
    md(r"""
**困惑度。** 语言模型的标准指标是**困惑度**（perplexity）：每个字的平均交叉熵取指数，

$$
\mathrm{PPL} = \exp\!\Bigl(-\frac{1}{M} \sum_{t=1}^{M} \log P(w_{t+1} \mid w_1, \dots, w_t)\Bigr).
$$

它可以理解为"模型平均在多少个字之间犹豫"：在 $V$ 个字中均匀随机猜测的模型，困惑度正好是 $V$（练习 3）；完美的模型是 1。未训练的模型输出接近均匀，困惑度应当接近字表大小。
`nnlib.models.perplexity` 沿着流把状态一个窗口一个窗口传下去，只做前向计算。

**训练前先生成一段。** `generate` 从一个前缀出发，每一步把 logits 除以**温度** $\tau$ 后做 softmax，从中随机抽下一个字：$\tau < 1$ 让分布更尖（更保守、更容易重复），$\tau > 1$ 让分布更平（更随意）。`avoid=[vocab.unk_id]` 不让它抽到 `<unk>`。抽样用自己的随机数种子，在同一台机器上结果可以复现：
"""),
    code(r"""
nnlib.manual_seed(0)
lm = RNNLanguageModel(len(vocab), EMBED, HIDDEN).to(DEVICE)    # 1 层 LSTM
print(lm)
print(f"参数个数: {sum(p.numel() for p in lm.parameters()):,}")
ppl_untrained = perplexity(lm, valid_streams, 64)
print(f"未训练的模型：验证集困惑度 ≈ 字表大小（相差不到 5%）: {abs(ppl_untrained / len(vocab) - 1) < 0.05}")
""", tags=[CHECK]),
    code(r"""
def sample(model, prefix="《浣溪沙》", length=60, temperature=1.0, seed=0):
    ids = model.generate(vocab.encode(prefix).tolist(), length, temperature=temperature, seed=seed, avoid=[vocab.unk_id])
    return vocab.decode(ids)


before = sample(lm, length=100)                                # 留作训练后的对照
print("训练前（τ = 1.0）:", before)
"""),
    md(r"""
完全是随机的字。**训练。** 每个窗口：前向得到 $(N, T, V)$ 的 logits，把它摊平成 $N T$ 个预测算交叉熵，反向传播，用 `clip_grad_norm_` 把全部梯度的整体范数裁剪到不超过 1（4.2.3 节的梯度爆炸；方向不变，只缩短长度），再用 Adam（3.3 节）更新。
训练损失取最近若干步的平均，验证集困惑度在验证集的前 8192 个字上定期计算。

这里的矩阵很小（$32 \times 128$ 乘 $128 \times 512$），而每个时间步都是一次 Python 循环：多线程分摊不了多少工作，线程之间反而要互相等待，机器上同时运行着其他程序时尤其如此。
作者在一台同时运行着其他程序的 2 核 x86 机器上测过一次（PyTorch 的 CPU 版，float32，本节的模型，一个窗口的前向加反向）：单线程约 0.1 秒，双线程 1.7～4.6 秒，慢了十倍以上。差别有多大取决于机器的核数和忙闲，可以把本节开头的 `torch.set_num_threads(1)` 改掉，自己比较一下。
所以本节开头就把 PyTorch 的 CPU 线程数设成了 1（对 GPU 没有影响），这也让结果与机器的核数无关。
"""),
    code(r"""
def train_language_model(model, train_streams, steps, lr, eval_streams, eval_every=37, seq_len=SEQ_LEN, max_norm=MAX_NORM):
    criterion = nn.CrossEntropyLoss()
    params = list(model.parameters())
    optimizer = optim.Adam(params, lr=lr)
    history = {"step": [0], "valid": [perplexity(model, eval_streams, 64)], "train": [float("nan")]}
    losses, step = [], 0
    while step < steps:
        state = None                                           # 每遍训练集从零状态开始
        for x, y in text.bptt_batches(train_streams, seq_len):
            logits, state = model(x, state)                    # 状态传给下一个窗口
            loss = criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            model.backward(criterion.backward().reshape(logits.shape))
            optim.clip_grad_norm_(params, max_norm)
            optimizer.step()
            losses.append(float(loss))
            step += 1
            if step % eval_every == 0 or step == steps:
                history["step"].append(step)
                history["train"].append(math.exp(np.mean(losses[-eval_every:])))
                history["valid"].append(perplexity(model, eval_streams, 64))
            if step == steps:
                break
    return history


start = time.perf_counter()
history = train_language_model(lm, train_streams, STEPS, LR, valid_curve_streams)
print(f"训练 {STEPS} 步用了 {time.perf_counter() - start:.0f} 秒（设备 {DEVICE}）")
"""),
    code(r"""
ppl_trained = perplexity(lm, valid_streams, 64)
print(f"训练 {STEPS} 步（约 {STEPS * BATCH * SEQ_LEN / len(train_ids):.1f} 遍训练集）")
print("验证集困惑度 < 200:", ppl_trained < 200)
print("验证集困惑度降到未训练时的 1/5 以下:", ppl_trained < ppl_untrained / 5)

counts = np.bincount(train_ids, minlength=len(vocab))
targets = nnlib.to_numpy(valid_curve_streams)[:, 1:]                 # 曲线上的验证集困惑度所预测的字
ppl_unigram = math.exp(-np.log(counts[targets] / counts.sum()).mean())
print(f"只按训练集的字频猜测（一元模型）：验证集前 8192 字上的困惑度 {ppl_unigram:.0f}")
print(f"第 {history['step'][1]} 步的验证集困惑度与一元模型相差不到 25%:", abs(history["valid"][1] / ppl_unigram - 1) < 0.25)
print("最后一次记录时，训练集与验证集的困惑度相差不到 10%:", abs(history["train"][-1] / history["valid"][-1] - 1) < 0.1)
""", tags=[CHECK]),
    code(r"""
print(f"验证集困惑度：训练前 {ppl_untrained:.0f}，训练后 {ppl_trained:.0f}（具体数值随机器略有不同）")
fig, ax = plt.subplots(figsize=(7.5, 4))
ax.plot(history["step"][1:], history["train"][1:], "o-", label="训练集（最近 37 步的平均）")
ax.plot(history["step"], history["valid"], "s-", label="验证集（前 8192 字）")
ax.axhline(len(vocab), color="gray", ls=":", label=f"均匀随机猜测 = 字表大小 {len(vocab)}")
ax.axhline(ppl_unigram, color="gray", ls="--", label=f"只按字频猜测（一元模型）{ppl_unigram:.0f}")
ax.set_yscale("log")
ax.set_xlabel("训练步数")
ax.set_ylabel("困惑度（对数坐标）")
ax.set_title("字符级 LSTM 语言模型的困惑度")
ax.legend()
plt.show()
"""),
    md(r"""
困惑度在前几十步里从 1000 左右迅速下降，到第 37 步已与只按字频猜测的一元模型相当（上面的检查）：模型先学会了哪些字和标点最常见；之后它开始利用上文，困惑度降到一元模型以下，下降也变慢，一遍训练集之后降到 200 以下。训练集和验证集的曲线几乎重合（最后一次记录时相差不到 10%），说明只训练一遍时还远没有过拟合，还有继续训练的余地。
注意 10% 的字都是 `<unk>`，而 `<unk>` 很容易预测，这使困惑度比用完整字表时偏低；比较困惑度时，字表必须相同。

**训练后再生成。** 用同一个前缀比较三个温度，每个温度用 4 个种子各生成 100 个字（下面打印每个温度的第一段）：
"""),
    code(r"""
PREFIX = "《浣溪沙》"
generated = {tau: [sample(lm, PREFIX, 100, tau, seed)[len(PREFIX):] for seed in range(4)] for tau in (0.5, 0.8, 1.0)}
for tau, texts in generated.items():
    print(f"τ = {tau}:", PREFIX + texts[0])
"""),
    md(r"""
生成的句子由种子决定；但不同机器上矩阵乘法的舍入略有不同，训练出的权重会有微小差别，而训练过程会把这种差别放大，所以你看到的句子多半与网页版不同。
它们的**统计特征**却是稳定的。下面的函数数一数生成的文字里有多少词牌名（`《` 与 `》` 之间的字）、其中多少在训练集里出现过，换行之后接的是什么字，两个标点之间平均几个字，不同的字占多大比例，以及相邻两个字（都不是标点）的组合有多大比例在训练集里出现过：
"""),
    code(r"""
PUNCT = "，。、？！；：\n《》"
train_plain = train_text.replace("<unk>", "□")                      # <unk> 算作一个字
real_names = set(re.findall(r"《([^《》\n]+)》", train_plain))      # 训练集里的词牌名
train_pairs = set(zip(train_plain, train_plain[1:]))                # 训练集里出现过的相邻两字


def text_stats(texts):
    names = [name for s in texts for name in re.findall(r"《([^《》\n]+)》", s)]
    clauses = [c for s in texts for c in re.split(f"[{PUNCT}]", s) if c]
    chars = [ch for s in texts for ch in s if ch not in PUNCT]
    pairs = [(a, b) for s in texts for a, b in zip(s, s[1:]) if a not in PUNCT and b not in PUNCT]
    after_newline = [s[i + 1] for s in texts for i in range(len(s) - 1) if s[i] == "\n"]
    return {"词牌名": len(names), "其中真实的": sum(name in real_names for name in names),
            "换行": len(after_newline), "换行后接《": after_newline.count("《"),
            "平均句长": float(np.mean([len(c) for c in clauses])),
            "不同的字占比": len(set(chars)) / len(chars),
            "相邻两字见于训练集": float(np.mean([p in train_pairs for p in pairs]))}


stats = {f"τ = {tau}": text_stats(texts) for tau, texts in generated.items()}
stats["训练前"] = text_stats([before[len(PREFIX):]])                # 训练前的那一段（τ = 1.0）
wide = lambda s: sum(ord(ch) > 0x2E80 for ch in s)                    # 汉字在等宽字体里占两格
print("　" * 9 + "".join(f"{name:>{10 - wide(name)}}" for name in stats))
for key in stats["τ = 0.5"]:
    print(f"{key:　<9}" + "".join(f"{s[key]:>10.2f}" if isinstance(s[key], float) else f"{s[key]:>10}" for s in stats.values()))
"""),
    md(r"""
表中的数随机器而变，下一格只检查本节要说的结论，它们在每台机器上都成立：
"""),
    code(r"""
low, mid, high = stats["τ = 0.5"], stats["τ = 0.8"], stats["τ = 1.0"]
names, real = low["词牌名"] + mid["词牌名"], low["其中真实的"] + mid["其中真实的"]
clause_train = np.mean([len(c) for c in re.split(f"[{PUNCT}]", train_plain) if c])
print(f"训练集里平均每 {clause_train:.0f} 个字一个标点")
print("τ = 0.5、0.8：换行之后接《（开始下一首）的比例超过 90%:",
      low["换行后接《"] + mid["换行后接《"] > 0.9 * (low["换行"] + mid["换行"]))
print("τ = 0.5、0.8：生成的词牌名里有训练集中真实的，也有拼凑的:", 0 < real < names)
print("训练后每个温度平均 2～8 个字一个标点；训练前 15 个字以上才有一个:",
      all(2 < s["平均句长"] < 8 for s in (low, mid, high)) and stats["训练前"]["平均句长"] > 15)
print("相邻两字见于训练集：训练后 τ = 0.5 超过六成，训练前不到两成:",
      low["相邻两字见于训练集"] > 0.6 and stats["训练前"]["相邻两字见于训练集"] < 0.2)
print("τ = 0.5 比 τ = 1.0 换行多（更快开始下一首）、不同的字占比低（更重复）:",
      low["换行"] > high["换行"] and low["不同的字占比"] < high["不同的字占比"])
""", tags=[CHECK]),
    md(r"""
与训练前的乱码相比，模型只读了一遍训练集，就学到了不少"形式"：标点的节奏（训练前的 100 个字里标点寥寥无几，训练后平均几个字就有一个，与训练集的约 5 个字相近）；一首词结束时换行，下一行以 `《` 开头、接一个词牌名再接 `》`——
生成的词牌名有的是训练集里真实的，有的是拼凑的；相邻两字的搭配在 $\tau = 0.5$ 时大多是训练集里出现过的，训练前则很少。
温度低（$\tau = 0.5$）时用字更集中、更重复，常常很快就换行开始"下一首"；温度高时用字更多样，也更混乱。至于"意思"，还远远谈不上——1 层、128 个单元、一遍训练集，对宋词来说太小了。

**更长的训练。** 把上面的 `RUN_LONG_TRAINING` 改成 `True` 再从那一格往下运行，就用 2000 字的字表（`<unk>` 在训练集约占 2%、验证集约占 3%）、256 个隐藏单元、学习率 $3 \times 10^{-3}$ 训练 1500 步（约 5 遍训练集），训练前后的验证集困惑度由画曲线的那一格打印。
这个设定不在默认运行之内，下面的数是作者在一台 2 核 x86 机器上（PyTorch 的 CPU 版，单线程，float32）测得的，测过两次：单线程的 CPU 时间约 3 分钟（机器繁忙时墙钟时间会长得多），验证集困惑度从约 2000 降到 108～109；
继续训练到第 2250 步，验证集困惑度不降反升（114～115），开始过拟合。其中一次训练到第 2250 步的模型在 $\tau = 0.5$ 时写出了"《浣溪沙》小楼春月近如霜。相逢意。且醉金杯醉。一点春风一点尘。"，比上面的样本更像词；在你的机器上，数值会略有不同，句子多半也不一样。
（两次的字表不同：字表越大，`<unk>` 越少、要区分的字越多，所以两个困惑度不能直接相比。）
"""),
]

# ---------------------------------------------------------------------------------------- 4.2.7
cells += [
    md(r"""
## 4.2.7 （可选）Penn Treebank 词级语言模型

源文档在第 5 节提到的 **Penn Treebank**（PTB）{cite}`marcus1993building` 是英文语言模型最常用的基准之一：Mikolov 预处理过的版本有约 93 万个训练词、1 万个词的词表（低频词已替换为 `<unk>`）{cite}`mikolov2010recurrent`。
它不能随本书分发（版权属于 LDC），`nnlib.text.load_ptb` 会从网上下载、用 SHA-256 校验并缓存（默认在 `~/.cache/nnlib/ptb`）。把下面的 `RUN_PTB` 改成 `True` 即可运行（需要联网）。

模型与上面相同，只是以**词**为单位：`RNNLanguageModel(10000, 128, 256)`，训练一遍训练集；下面一格打印训练前后的验证集困惑度（本书没有这个设定的实测数值）。
作为参照，Zaremba 等人的小型 LSTM（2 层 × 200 单元，训练 13 遍）测试集困惑度约 115 {cite}`zaremba2014recurrent`。词表有 1 万个词，输出层占了大部分计算，在 CPU 上需要较长时间，有 GPU 时会快得多。
"""),
    code(r"""
RUN_PTB = False               # 改成 True：下载 Penn Treebank（约 6 MB）并训练一个词级 LSTM 语言模型

if RUN_PTB:
    ptb_vocab, ptb = text.load_ptb()
    print(ptb_vocab, {split: len(ids) for split, ids in ptb.items()})
    ptb_train = text.batchify(ptb["train"], 32, DEVICE)
    ptb_valid = text.batchify(ptb["valid"], 32, DEVICE)
    nnlib.manual_seed(0)
    ptb_lm = RNNLanguageModel(len(ptb_vocab), 128, 256).to(DEVICE)
    ptb_steps = ptb_train.shape[1] // 35                             # 一遍训练集
    ptb_history = train_language_model(ptb_lm, ptb_train, ptb_steps, 3e-3, ptb_valid, eval_every=200, seq_len=35)
    print(f"PTB 验证集困惑度：{ptb_history['valid'][0]:.0f} → {ptb_history['valid'][-1]:.0f}")
    ids = ptb_lm.generate(ptb_vocab.encode(["the"]).tolist(), 30, temperature=0.8, avoid=[ptb_vocab.unk_id])
    print(ptb_vocab.decode(ids, sep=" "))
else:
    print("RUN_PTB = False：跳过 Penn Treebank")
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

- RNN 在每个时间步用**同一组**权重计算 $h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$；按时间展开后是一个共享权重的深层网络。
- **BPTT**：$\delta_t = \partial J_t / \partial h_t + W_{hh}^\top \delta^a_{t+1}$，$\delta^a_t = \delta_t \odot \tanh'(a_t)$；共享参数的梯度是各时间步贡献之和，如 $\partial J / \partial W_{hh} = \sum_t \delta^a_t h_{t-1}^\top$。
- 误差信号每往回一步就乘一次 $\operatorname{diag}(\tanh') W_{hh}$：最大奇异值 $\lVert W_{hh} \rVert_2 < 1$ 时范数必然随距离指数衰减（梯度消失的充分条件）；范数要指数增长（梯度爆炸），必须 $\lVert W_{hh} \rVert_2 > 1$（必要条件，并不充分）。梯度爆炸用梯度裁剪应对。
- LSTM（门 $i, f, g, o$）和 GRU（门 $r, z, n$）在时间方向上开了一条由门控制的加法通路；门接近 1 时梯度能传得很远。PyTorch 的 GRU 把 $r_t$ 乘在 $W_{hn} h_{t-1} + b_{hn}$ 上，与 Cho 等人的原始公式不同。
- 源文档的 `RNNModel` 只用最后一步预测，每个序列一个监督信号；语言模型在每一步都预测下一个词。nnlib 的两个模型与 PyTorch 的输出和全部梯度在 float64 下一致。
- 语言模型用困惑度评价（均匀随机猜测 = 词表大小）；用截断的 BPTT 在长文本上训练；生成时用温度控制多样性。

## 练习

做法与前几章相同：把 `raise NotImplementedError` 换成你的答案并运行，再运行下面的自检格。
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "LSTM 一步的反向传播：记忆单元",
    r"""
4.2.3 节说 LSTM 的记忆单元在时间方向上开了一条"只乘 $f_t$"的通路。自己推导一步 LSTM（4.2.4 节的公式）的反向传播来验证这句话。
把损失 $J$ 看成这一步的两个输出 $h_t$、$c_t$ 的函数，已知它对两者的偏导 `dh` $= \partial J / \partial h_t$、`dc` $= \partial J / \partial c_t$（就像在 PyTorch 里对 `h_n`、`c_n` 分别传入的梯度；`dc` 是经由下一步的 $c_{t+1} = f_{t+1} \odot c_t + \dots$ 传回来的部分）。
写函数 `lstm_step_backward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, dh, dc)`，返回 `(dh_prev, dc_prev)`，即 $\partial J / \partial h_{t-1}$ 与 $\partial J / \partial c_{t-1}$。
批量按行存放：`x` 形状 `(N, D)`，`h_prev`、`c_prev`、`dh`、`dc` 形状 `(N, H)`；权重与 `nn.LSTM` 的 `weight_ih_l0`、`weight_hh_l0`、`bias_ih_l0`、`bias_hh_l0` 形状相同（门的顺序 $i, f, g, o$）。

提示：先重算前向（四个门和 $c_t$）；$h_t = o_t \odot \tanh(c_t)$ 也依赖 $c_t$，所以到达 $c_t$ 的梯度有两部分；四个门的净输入的梯度按 $i, f, g, o$ 的顺序拼成 `(N, 4H)` 后，$\partial J / \partial h_{t-1}$ 只需一次矩阵乘法。自检与 PyTorch 的自动微分比较。
做完后看一看：你写出的 $\partial J / \partial c_{t-1}$ 里有没有 $W_{hh}$？
""",
    r"""
def lstm_step_backward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, dh, dc):
    raise NotImplementedError
""",
    r"""
def test_lstm_step_backward():
    torch.manual_seed(5)
    t_cell = torch.nn.LSTM(3, 4).double()
    rng = np.random.default_rng(5)
    x, h_prev, c_prev, dh, dc = (rng.standard_normal(shape) for shape in [(2, 3), (2, 4), (2, 4), (2, 4), (2, 4)])
    t_h0 = torch.tensor(h_prev[None], requires_grad=True)
    t_c0 = torch.tensor(c_prev[None], requires_grad=True)
    _, (t_h, t_c) = t_cell(torch.from_numpy(x[None]), (t_h0, t_c0))
    ((t_h[0] * torch.from_numpy(dh)).sum() + (t_c[0] * torch.from_numpy(dc)).sum()).backward()
    weights = [p.detach().numpy() for p in (t_cell.weight_ih_l0, t_cell.weight_hh_l0, t_cell.bias_ih_l0, t_cell.bias_hh_l0)]
    got = lstm_step_backward(x, h_prev, c_prev, *weights, dh, dc)
    if not (isinstance(got, tuple) and len(got) == 2):
        return False, "应返回两个数组组成的元组 (dh_prev, dc_prev)。"
    dh_prev, dc_prev = (np.asarray(g) for g in got)
    if dh_prev.shape != (2, 4) or dc_prev.shape != (2, 4):
        return False, f"两个梯度的形状都应是 (2, 4)，你的是 {dh_prev.shape} 和 {dc_prev.shape}。"
    if not np.allclose(dc_prev, t_c0.grad[0].numpy(), rtol=1e-10, atol=1e-12):
        return False, ("∂J/∂c_{t-1} 不对。到达 c_t 的梯度 = dc + dh ⊙ o ⊙ (1 − tanh²(c_t))；"
                       "门只依赖 x_t 和 h_{t-1}，c_{t-1} 只通过 f ⊙ c_{t-1} 这一项影响 c_t。")
    if not np.allclose(dh_prev, t_h0.grad[0].numpy(), rtol=1e-10, atol=1e-12):
        return False, ("∂J/∂c_{t-1} 对了，∂J/∂h_{t-1} 不对。检查四个门的净输入的梯度（σ' = σ(1 − σ)，tanh' = 1 − tanh²），"
                       "门 o 的梯度来自 dh ⊙ tanh(c_t)，其余三个来自到达 c_t 的梯度；按 i, f, g, o 拼好后乘 W_hh。")
    return True, ""


check_answer("练习 1", test_lstm_step_backward)
""",
    r"""
def lstm_step_backward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, dh, dc):
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh           # 重算前向：四个门的净输入 (N, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, o = (1 / (1 + np.exp(-v)) for v in (a_i, a_f, a_o))
    g = np.tanh(a_g)
    tanh_c = np.tanh(f * c_prev + i * g)                     # tanh(c_t)
    dc_t = dc + dh * o * (1 - tanh_c ** 2)                   # 到达 c_t 的全部梯度：经 c_{t+1}，再加经 h_t
    dc_prev = dc_t * f                                       # c_t = f ⊙ c_{t-1} + i ⊙ g：只乘 f
    da = np.concatenate([dc_t * g * i * (1 - i),             # ∂J/∂a_i
                         dc_t * c_prev * f * (1 - f),        # ∂J/∂a_f
                         dc_t * i * (1 - g ** 2),            # ∂J/∂a_g
                         dh * tanh_c * o * (1 - o)], axis=1)  # ∂J/∂a_o
    dh_prev = da @ W_hh                                      # 批量按行：(W_hhᵀ δa)ᵀ = δaᵀ W_hh
    return dh_prev, dc_prev
""",
    r"""
记 $\bar c_t = \partial J / \partial c_t$ 的全部（`dc` 加上经 $h_t$ 的那一部分 $\bar h_t \odot o_t \odot (1 - \tanh^2 c_t)$），则 $\partial J / \partial c_{t-1} = \bar c_t \odot f_t$：
从 $\bar c_t$ 到 $\partial J / \partial c_{t-1}$ **没有 $W_{hh}$，也没有激活函数的导数**，只是逐元素乘遗忘门——这就是 4.2.3 节的加法通路（nnlib 和 PyTorch 的 LSTM 没有 peephole 连接，门只依赖 $x_t$ 与 $h_{t-1}$，所以 $c_{t-1}$ 只通过 $f_t \odot c_{t-1}$ 影响 $J$）。
沿 $h$ 传回的 $\partial J / \partial h_{t-1} = W_{hh}^\top \delta^a_t$（$\delta^a_t \in \mathbb{R}^{4H}$ 是四个门的净输入的梯度）则与 RNN 一样要乘 $W_{hh}^\top$ 和门的导数。
把本函数从 $t = T$ 循环到 $t = 1$（`dh` 加上第 $t$ 步输出的梯度，`dc` 取后一步返回的 `dc_prev`）就是 LSTM 的 BPTT；nnlib 的 `nn.LSTM._layer_backward` 做的正是这件事，只是一次算出所有时间步的门导数。
""",
)

cells += ex.add(
    "手算一步 GRU",
    r"""
按 4.2.4 节的公式（PyTorch 的约定：门的顺序 $r, z, n$，$b_{hn}$ 在 $r_t \odot (\cdot)$ 里面）实现一步 GRU：`gru_step(x, h, W_ih, W_hh, b_ih, b_hh)`，
其中 `x` 形状 `(N, D)`，`h` 形状 `(N, H)`，权重与 `nn.GRU` 的 `weight_ih_l0` 等形状相同；返回新的 `h`，形状 `(N, H)`。自检会与 nnlib 的 `nn.GRU` 比较。
""",
    r"""
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    raise NotImplementedError
""",
    r"""
def test_gru_step():
    nnlib.manual_seed(2)
    gru = nn.GRU(3, 4, dtype="float64")
    rng = np.random.default_rng(2)
    xs, hs_ = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    _, h_n = gru(xs[None], hs_[None])
    got = np.asarray(gru_step(xs, hs_, gru.weight_ih_l0.data, gru.weight_hh_l0.data, gru.bias_ih_l0.data, gru.bias_hh_l0.data))
    if got.shape != (5, 4):
        return False, f"形状应为 (5, 4)，你的是 {got.shape}。"
    return np.allclose(got, h_n[0], atol=1e-12), ("与 nn.GRU 不一致。检查门的顺序 (r, z, n)，"
                                                  "以及 r 乘在 (W_hn h + b_hn) 上，而不是乘在 h 上。")


check_answer("练习 2", test_gru_step)
""",
    r"""
def gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    gi = x @ W_ih.T + b_ih                       # (N, 3H)：W_i· x + b_i·
    gh = h @ W_hh.T + b_hh                       # (N, 3H)：W_h· h + b_h·
    i_r, i_z, i_n = np.split(gi, 3, axis=1)
    h_r, h_z, h_n = np.split(gh, 3, axis=1)
    r = 1 / (1 + np.exp(-(i_r + h_r)))
    z = 1 / (1 + np.exp(-(i_z + h_z)))
    n = np.tanh(i_n + r * h_n)                   # PyTorch：r ⊙ (W_hn h + b_hn)
    return (1 - z) * n + z * h
""",
    r"""
`h @ W_hh.T` 一次算出三个门的 $W_{h\cdot} h_{t-1}$，这正是 PyTorch 把 $r_t$ 放在 $W_{hn} h_{t-1} + b_{hn}$ 外面的原因。若按 Cho 等人的原始写法
`n = np.tanh(i_n + (r * h) @ W_hn.T)`，就必须先算出 $r_t$ 再做第二次矩阵乘法，结果也不同，自检会失败。
""",
)

cells += ex.add(
    "均匀随机猜测的困惑度",
    r"""
写函数 `perplexity_from_logits(logits, targets)`：`logits` 形状 `(M, V)`（$M$ 个位置、词表大小 $V$），`targets` 形状 `(M,)`，返回困惑度 $\exp(-\frac1M \sum_t \log \operatorname{softmax}(\text{logits}_t)_{\text{target}_t})$。
然后想一想：如果 logits 全为 0（每个词的概率都是 $1/V$），困惑度是多少？自检会检验一般情形（与 `nn.CrossEntropyLoss` 比较）和这种情形。
""",
    r"""
def perplexity_from_logits(logits, targets):
    raise NotImplementedError
""",
    r"""
def test_perplexity_from_logits():
    rng = np.random.default_rng(3)
    z, t = rng.standard_normal((50, 20)) * 3, rng.integers(0, 20, size=50)
    truth = math.exp(float(nn.CrossEntropyLoss()(z, t)))
    got = float(perplexity_from_logits(z, t))
    if not math.isclose(got, truth, rel_tol=1e-9):
        return False, f"应为 {truth:.4f}，你的是 {got:.4f}。困惑度 = exp(平均交叉熵)；记得先做 log-softmax。"
    for v in (2, 1000, 4267):
        got = float(perplexity_from_logits(np.zeros((10, v)), np.arange(10) % v))
        if not math.isclose(got, v, rel_tol=1e-9):
            return False, f"logits 全为 0、V = {v} 时困惑度应为 {v}，你的是 {got}。"
    return True, ""


check_answer("练习 3", test_perplexity_from_logits)
""",
    r"""
def perplexity_from_logits(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)                    # 减去最大值，防止溢出
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))          # log-softmax
    return float(np.exp(-log_p[np.arange(len(targets)), targets].mean()))
""",
    r"""
logits 全为 0 时每个词的概率都是 $1/V$，每个位置的交叉熵都是 $\log V$，困惑度 $= \exp(\log V) = V$。所以"困惑度 = 平均在多少个词之间犹豫"：未训练的模型困惑度约等于词表大小（4.2.6 节），
训练一遍后的字符模型把 1000 个字的选择缩小到了不到五分之一。
""",
)

cells += ex.add(
    "梯度裁剪",
    r"""
实现 `clip_by_total_norm(grads, max_norm)`：`grads` 是若干 NumPy 数组的列表，把它们看成**一个**长向量，若其 2-范数 $\lVert g \rVert$ 超过 `max_norm`（记作 $c$），就把每个数组都乘以 $c / \lVert g \rVert$；
返回 `(裁剪后的数组列表, 裁剪前的范数)`。自检会与 `nnlib.optim.clip_grad_norm_` 比较（它在分母上多加了 $10^{-6}$，与 PyTorch 相同，比较时的容差允许这个差别）。
再想一想：为什么要把所有参数的梯度**一起**缩放，而不是每个数组各自裁剪、或者逐元素截断到 $[-c, c]$？
""",
    r"""
def clip_by_total_norm(grads, max_norm):
    raise NotImplementedError
""",
    r"""
def test_clip_by_total_norm():
    rng = np.random.default_rng(4)
    for scale in (0.01, 10.0):
        arrays = [rng.standard_normal((3, 4)) * scale, rng.standard_normal(5) * scale]
        params = [nn.Parameter(np.zeros_like(a)) for a in arrays]
        for p, a in zip(params, arrays):
            p.grad = a.copy()
        total = float(optim.clip_grad_norm_(params, 1.0))
        got, got_total = clip_by_total_norm([a.copy() for a in arrays], 1.0)
        if not math.isclose(float(got_total), total, rel_tol=1e-9):
            return False, f"裁剪前的范数应为 {total:.4f}，你的是 {float(got_total):.4f}。把所有数组的平方和加起来再开方。"
        if not all(np.allclose(g, p.grad, rtol=1e-5, atol=1e-12) for g, p in zip(got, params)):
            return False, "裁剪后的梯度不对。范数不超过 max_norm 时不要改动；超过时每个数组乘同一个系数。"
    return True, ""


check_answer("练习 4", test_clip_by_total_norm)
""",
    r"""
def clip_by_total_norm(grads, max_norm):
    total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))      # 所有梯度拼成一个向量的 2-范数
    if total > max_norm:
        grads = [g * (max_norm / total) for g in grads]
    return grads, total
""",
    r"""
一起缩放只改变梯度向量的**长度**，不改变它的**方向**：更新仍然沿着（小批量上的）最速下降方向，只是步子不会因为一次偶然的巨大梯度（梯度爆炸、损失曲面上的"悬崖"）而跨得太远 {cite}`pascanu2013difficulty`。
各数组分别裁剪或逐元素截断都会改变方向，使某些参数的相对更新量失真。4.2.6 节的训练每一步都调用 `clip_grad_norm_(params, 1.0)`。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch04_2_rnn", cells)
