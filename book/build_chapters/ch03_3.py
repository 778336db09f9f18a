"""3.3 优化算法 → chapters/ch03_3_optimizers.ipynb  (run: .venv/bin/python book/build_chapters/ch03_3.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 3.3 优化算法

3.2 节的反向传播给出了梯度 $\partial J / \partial \theta$；这一节讨论得到梯度以后，参数应当怎样更新。源文档列出了五种常用方法——随机梯度下降、动量法、AdaGrad、RMSProp 和 Adam——并给出了 Adam 的更新式。
我们按它们被提出的顺序介绍：每一种都针对前一种的某个具体缺陷。每个公式都写全符号；每个算法都给出 nnlib 的真实实现（`nnlib.optim`，名称、参数和默认值都与 `torch.optim` 相同），
在二维函数上看它们怎样走，最后在一个真实的网络上比较它们。

**本节通用的记号**（所有运算——平方、开方、除法——都对向量**逐元素**进行）：

| 符号 | 含义 | 形状 |
|---|---|---|
| $\theta_t$ | 第 $t$ 步更新之后的全部参数（拉成一个向量）；$\theta_0$ 是初始值 | $\mathbb{R}^{P}$ |
| $t$ | 步数，从 **1** 开始计 | 正整数 |
| $B_t$ | 第 $t$ 步随机抽取的一个小批量样本 | 样本集合 |
| $g_t = \nabla_\theta J_{B_t}(\theta_{t-1})$ | 在当前参数处、用小批量 $B_t$ 算出的梯度（3.2 节的反向传播） | $\mathbb{R}^{P}$ |
| $\alpha$ | 学习率（步长），`lr` | 正实数 |
| $\varepsilon$ | 防止除以 0 的小常数，`eps` | 正实数 |

源文档写的是 $\theta_{t+1} = \theta_t - \dots$，用 $\nabla_\theta J_t$ 表示第 $t$ 步的梯度；这里写 $\theta_t = \theta_{t-1} - \dots$（与 Adam 原论文 {cite}`kingma2015adam` 和 PyTorch 一致），两者只是下标平移。
要紧的是**步数从 1 开始**：Adam 的偏差修正要除以 $1 - \beta^t$，$t = 0$ 时分母为 0。
"""),
    code(r"""
import inspect

import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import nnlib
from nnlib import nn, optim
from nnlib.nn.module import Parameter
from nnlib.surfaces import ILL_CONDITIONING, get_surface, trajectory
from nnlib.widgets import AdamExplorer, ModelTarget, OptimizerRace
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.1
cells += [
    md(r"""
## 3.3.1 随机梯度下降（SGD）及其局限

$$
\theta_t = \theta_{t-1} - \alpha\, g_t .
$$

"随机"指 $g_t$ 只用一个小批量算出：它是整个训练集上梯度的**无偏估计**，但计算代价与训练集大小无关。这个想法可以追溯到 Robbins 与 Monro 的随机逼近 {cite}`robbins1951stochastic`。
SGD 只有一个超参数 $\alpha$，它的局限也都来自"所有方向共用一个步长"。

**病态曲面。** 看最简单的例子——一个两个方向曲率相差 $\kappa$ 倍的二次函数（nnlib 的 `surfaces.QUADRATIC`，$\kappa = 25$）：

$$
f(x, y) = \tfrac12\left(x^2 + \kappa y^2\right), \qquad \nabla f = (x,\; \kappa y)^\top .
$$

梯度下降的两个坐标互不影响：$x_t = (1 - \alpha)\, x_{t-1}$，$y_t = (1 - \alpha\kappa)\, y_{t-1}$，所以 $x_t = (1 - \alpha)^t x_0$，$y_t = (1 - \alpha \kappa)^t y_0$。
要不发散，需要 $|1 - \alpha\kappa| < 1$，即 $\alpha < 2/\kappa = 0.08$——**步长被最陡的方向限制住**；而平缓方向每步只缩小到 $1 - \alpha > 0.92$ 倍，收敛很慢。
$\alpha$ 接近上限时 $1 - \alpha\kappa$ 接近 $-1$，$y$ 每步变号：路径在陡峭方向上来回"之"字振荡。曲率之比 $\kappa$（条件数）越大，这个矛盾越尖锐，而深度网络的损失曲面往往是高度病态的。
"""),
    code(r"""
quadratic = get_surface("quadratic")
kappa = ILL_CONDITIONING
print(f"κ = {kappa:g}，起点 (x₀, y₀) = {quadratic.start}")
for lr in (0.02, 0.07, 0.085):
    tr = trajectory(quadratic, lambda ps: optim.SGD(ps, lr=lr), 100)
    x, y = tr.points[-1]
    state = "发散" if tr.diverged or abs(tr.values[-1]) > 1e6 else f"f = {tr.values[-1]:.1e}"
    print(f"SGD α={lr:<5}  每步 x 乘以 1 − α = {1 - lr:.3f}，y 乘以 1 − ακ = {1 - lr * kappa:+.3f}；"
          f"100 步后 |x| = {abs(x):.1e}，|y| = {abs(y):.1e}，{state}")
""", tags=[CHECK]),
    md(r"""
$\alpha = 0.085 > 0.08$ 时 $|1 - \alpha\kappa| = 1.125$，$y$ 每步放大 12.5%，100 步后 $|y|$ 已达 $10^5$ 量级；$\alpha = 0.02$ 时 $y$ 不振荡，但 $x$ 方向每步只缩小 2%，100 步后 $|x|$ 仍约为 0.5。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.2
cells += [
    md(r"""
## 3.3.2 动量法与 Nesterov 动量

**动量法**（momentum，Polyak 的"重球法" {cite}`polyak1964some`）让参数像一个有惯性的球：保留一个"速度" $v_t$，它是过去梯度的累积：

$$
v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, v_t, \qquad v_0 = 0 ,
$$

其中 $\mu \in [0, 1)$ 是动量系数（常取 0.9），$v_t \in \mathbb{R}^P$ 存在 `optimizer.state[p]["momentum_buffer"]` 里。展开得 $v_t = \sum_{i=1}^{t} \mu^{t-i} g_i$：

- 在**方向一致**的坐标上（病态曲面的平缓方向），梯度一直同号，$v_t \to g / (1 - \mu)$，有效步长放大为 $\alpha / (1 - \mu)$（$\mu = 0.9$ 时是 10 倍）；
- 在**来回振荡**的坐标上（陡峭方向），相邻梯度符号相反，在 $v_t$ 里相互抵消。

所以动量法可以用较小的 $\alpha$ 压住陡峭方向，同时在平缓方向上加速。有些书写成 $v_t = \mu v_{t-1} - \alpha g_t$，$\theta_t = \theta_{t-1} + v_t$ {cite}`sutskever2013importance`：学习率不变时两者完全等价（速度差一个因子 $-\alpha$）。

**Nesterov 动量** {cite}`nesterov1983method` 在"先按惯性走一步之后的位置"上计算梯度，因而能更早地减速。Sutskever 等人 {cite}`sutskever2013importance` 把它改写成只在当前位置求梯度的形式，PyTorch 与 nnlib 用的就是这个形式：

$$
v_t = \mu\, v_{t-1} + g_t, \qquad \theta_t = \theta_{t-1} - \alpha\,\bigl(g_t + \mu\, v_t\bigr).
$$

nnlib 的实现（`dampening` $\tau$ 是把 $g_t$ 乘上 $1 - \tau$ 的选项，默认为 0；`weight_decay` 见 3.3.5 节末尾）：
"""),
    code(r"""
print(inspect.getsource(optim.SGD._update))
"""),
    md(r"""
在同一个二次函数上比较各方法第一次把 $f$ 降到 $10^{-6}$ 以下所用的步数。对二次函数，两种方法的最佳参数都能解析求出 {cite}`polyak1964some`（$L = \kappa$ 与 $1$ 是两个方向的曲率）：

- SGD：$\alpha = 2/(L + 1) = 2/26$，每步误差缩小到 $(\kappa - 1)/(\kappa + 1) \approx 0.92$ 倍；
- 动量法：$\alpha = 4/(\sqrt{L} + 1)^2 = 1/9$，$\mu = \bigl((\sqrt{\kappa} - 1)/(\sqrt{\kappa} + 1)\bigr)^2 = 4/9$，每步缩小到 $(\sqrt{\kappa} - 1)/(\sqrt{\kappa} + 1) \approx 0.67$ 倍——依赖于 $\sqrt{\kappa}$ 而不是 $\kappa$。

再加上深度学习中最常用的 $\mu = 0.9$（配 $\alpha = 0.02$）和同样参数的 Nesterov 动量：
"""),
    code(r"""
contenders = {
    "SGD α=0.02": lambda ps: optim.SGD(ps, lr=0.02),
    "SGD α=2/26（最佳）": lambda ps: optim.SGD(ps, lr=2 / 26),
    "动量 α=1/9, μ=4/9（最佳）": lambda ps: optim.SGD(ps, lr=1 / 9, momentum=4 / 9),
    "动量 α=0.02, μ=0.9": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9),
    "Nesterov α=0.02, μ=0.9": lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True),
}
paths = {name: trajectory(quadratic, make, 300) for name, make in contenders.items()}
for name, tr in paths.items():
    below = np.flatnonzero(tr.values < 1e-6)
    print(f"{name:<26} f < 1e-6 所需步数: {below[0] if len(below) else '300 步内未达到'}")
root = np.sqrt(kappa)
print(f"每步误差的缩小倍数：最佳 SGD (κ − 1)/(κ + 1) = {(kappa - 1) / (kappa + 1):.3f}，"
      f"最佳动量法 (√κ − 1)/(√κ + 1) = {(root - 1) / (root + 1):.3f}")
""", tags=[CHECK]),
    code(r"""
X_grid, Y_grid, Z_grid = quadratic.grid(200)
fig, axes = plt.subplots(1, 5, figsize=(19, 3.2), sharey=True)
for ax, (name, tr) in zip(axes, paths.items()):
    ax.contour(X_grid, Y_grid, Z_grid, levels=20, cmap="viridis", linewidths=0.8)
    ax.plot(tr.points[:60, 0], tr.points[:60, 1], "o-", ms=2.5, lw=1, color="C3")
    ax.plot(*quadratic.minimum, "k*", ms=10)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
fig.suptitle("病态二次函数 f = (x² + 25y²)/2 上的前 60 步：SGD 要么慢、要么振荡；调好的动量法快得多，μ 太大则来回绕圈", y=1.05)
fig.tight_layout()
plt.show()
"""),
    md(r"""
调好参数的动量法（30 步）比调好参数的 SGD（106 步）快三倍多。常用的 $\mu = 0.9$ 在这个只有两个方向的问题上**动量过大**：路径绕着最小值转圈，反而比最佳的 SGD 慢；Nesterov 动量的"提前减速"减轻了这种过冲。
真实网络里没有办法解析求出最佳参数，$\mu = 0.9$ 是经验上稳妥的默认值。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.3 / 3.3.4
cells += [
    md(r"""
## 3.3.3 AdaGrad：每个坐标自己的步长

动量法没有改变"所有坐标共用一个 $\alpha$"。**AdaGrad** {cite}`duchi2011adaptive` 让每个坐标的步长由它自己的梯度历史决定：

$$
s_t = s_{t-1} + g_t \odot g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, \frac{g_t}{\sqrt{s_t} + \varepsilon}, \qquad s_0 = 0 ,
$$

其中 $s_t \in \mathbb{R}^P$ 是每个坐标梯度平方的累加和（`state["sum"]`），$\varepsilon$ 在 PyTorch 与 nnlib 中默认为 $10^{-10}$。

**为什么发明它。** 梯度一直很大的坐标，$\sqrt{s_t}$ 也大，步长被压小；很少出现、梯度很小的坐标（例如文本中的罕见词、稀疏特征）则得到相对大的步长。
它对每个坐标分别按梯度的大小归一化：在 3.3.1 节的二次函数上，从起点 $(-4, 1)$ 出发时梯度是 $(-4, 25)$，两个分量相差六倍多，AdaGrad 的第一步却在两个坐标上都走 $\alpha$（$g_1 / (\sqrt{g_1^2} + \varepsilon) \approx \pm 1$）；把 $f$ 整体乘以常数 $c$，$g_t$ 和 $\sqrt{s_t}$ 同乘 $c$，步长不变。

**它的缺陷。** $s_t$ 只增不减，步长单调变小。即使梯度一直是常数 $g$，也有 $s_t = t g^2$，第 $t$ 步只走 $\alpha\, |g| / \sqrt{t g^2} = \alpha / \sqrt{t}$：训练越久，步长越小，在非凸的深度网络上常常过早地停止前进。

## 3.3.4 RMSProp：只记住最近的梯度

**RMSProp**（Hinton 在 Coursera 课程中提出，未正式发表 {cite}`hinton2012rmsprop`）把累加和换成**指数滑动平均**，旧的梯度逐渐被遗忘：

$$
r_t = \rho\, r_{t-1} + (1 - \rho)\, g_t \odot g_t, \qquad \theta_t = \theta_{t-1} - \alpha\, \frac{g_t}{\sqrt{r_t} + \varepsilon}, \qquad r_0 = 0 ,
$$

其中 $r_t$ 是梯度平方的滑动平均（`state["square_avg"]`），衰减率 $\rho \in [0, 1)$ 在 PyTorch 与 nnlib 中叫 `alpha`，默认 0.99（Hinton 的讲义建议 0.9），$\varepsilon$ 默认 $10^{-8}$。
$r_t$ 大约是最近 $1/(1-\rho)$ 步梯度平方的平均，所以梯度大小稳定时每步大约走 $\alpha$，不会像 AdaGrad 那样越走越慢。

留意一个细节：$r_0 = 0$，前几步的 $r_t$ 偏小（梯度恒为 $g$ 时 $r_t = (1 - \rho^t) g^2$，$r_1$ 只有 $g^2$ 的 1%），于是开头的步长偏大：第 1 步是 $\alpha / \sqrt{1 - \rho} = 10\alpha$。RMSProp 没有处理这个问题，Adam 处理了（3.3.5 节）。

nnlib 的两个实现（`weight_decay`、`lr_decay`、`initial_accumulator_value`、`centered`、`momentum` 是与 PyTorch 相同的可选项，默认都不起作用）：
"""),
    code(r"""
print(inspect.getsource(optim.Adagrad._update))
print(inspect.getsource(optim.RMSprop._update))
"""),
    md(r"""
用 nnlib 的优化器验证上面的几个说法：AdaGrad 在二次函数上的第一步，以及梯度恒为 $g = 2$ 时三种自适应方法每步移动的距离（以 $\alpha$ 为单位）：
"""),
    code(r"""
tr = trajectory(quadratic, lambda ps: optim.Adagrad(ps, lr=0.1), 1)
first = (tr.points[1] - tr.points[0]) / 0.1
print(f"起点 ({tr.points[0][0]:g}, {tr.points[0][1]:g})，梯度 ({tr.gradients[0][0]:g}, {tr.gradients[0][1]:g})；"
      f"AdaGrad 第一步 / α = ({first[0]:+.6f}, {first[1]:+.6f})")


def constant_gradient_steps(make, g=2.0, steps=100, lr=0.1):
    theta = Parameter(np.zeros(1))
    opt = make([theta], lr=lr)
    lengths = []
    for _ in range(steps):
        before = float(theta.data[0])
        theta.grad = np.array([g])
        opt.step()
        lengths.append(abs(float(theta.data[0]) - before) / lr)
    return lengths


shown = (1, 2, 10, 100)
print(f"{'第 t 步移动的距离 / α':<16}" + "".join(f"{f't = {t}':>10}" for t in shown))
for name, make in [("AdaGrad", optim.Adagrad), ("RMSProp（ρ = 0.99）", optim.RMSprop), ("Adam", optim.Adam)]:
    lengths = constant_gradient_steps(make)
    print(f"{name:<18}" + "".join(f"{lengths[t - 1]:>10.3f}" for t in shown))
print(f"{'1/√t':<18}" + "".join(f"{1 / np.sqrt(t):>10.3f}" for t in shown))
""", tags=[CHECK]),
    md(r"""
AdaGrad 的步长正是 $\alpha / \sqrt{t}$；RMSProp 第 1 步移动了 $10\alpha$，第 10 步仍有 $3\alpha$ 多，第 100 步还多出约四分之一；Adam 从第 1 步起就是 $\alpha$。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.5 Adam
cells += [
    md(r"""
## 3.3.5 Adam：动量 + 自适应步长 + 偏差修正

**Adam**（adaptive moment estimation）{cite}`kingma2015adam` 把动量（梯度的滑动平均）和 RMSProp（梯度平方的滑动平均）结合起来，并修正了两者在开头的偏差。完整的更新是：

$$
\begin{aligned}
m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, &\qquad m_0 &= 0, \\
v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t \odot g_t, & v_0 &= 0, \\
\hat m_t &= \frac{m_t}{1 - \beta_1^t}, & \hat v_t &= \frac{v_t}{1 - \beta_2^t}, \\
\theta_t &= \theta_{t-1} - \alpha\, \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon} .
\end{aligned}
$$

| 符号 | 含义 | nnlib / PyTorch |
|---|---|---|
| $m_t \in \mathbb{R}^P$ | 一阶矩（梯度均值）的估计：梯度的指数滑动平均 | `state["exp_avg"]` |
| $v_t \in \mathbb{R}^P$ | 二阶矩（梯度平方的均值，**不是**方差）的估计 | `state["exp_avg_sq"]` |
| $\beta_1, \beta_2 \in [0, 1)$ | 两个滑动平均的衰减率 | `betas=(0.9, 0.999)` |
| $\beta_1^t, \beta_2^t$ | $\beta$ 的 $t$ 次**幂**（不是上标） | `state["step"]` 记录 $t$ |
| $\hat m_t, \hat v_t$ | **偏差修正**后的估计 | 在 `step()` 里临时算出 |
| $\alpha$ | 学习率 | `lr=1e-3` |
| $\varepsilon$ | 加在 $\sqrt{\hat v_t}$ 之后（根号外）的小常数 | `eps=1e-8` |

**源文档漏掉了什么。** 源文档给出了 $m_t$、$v_t$ 和 $\theta$ 的更新，却只用一句"$\hat{m}_t$ 和 $\hat{v}_t$ 为偏差修正后的估计值"带过，没有给出 $\hat m_t = m_t / (1 - \beta_1^t)$、$\hat v_t = v_t / (1 - \beta_2^t)$ 这两个定义——
而它们恰恰是 Adam 与"动量 + RMSProp"的区别。另外，$(\nabla_\theta J_t)^2$ 是逐元素平方，$\varepsilon$ 在根号之外，$t$ 从 1 开始，这些源文档也没有写明。

**为什么要修正。** 把递推展开：$m_t = (1 - \beta_1) \sum_{i=1}^{t} \beta_1^{t-i} g_i$。如果梯度一直是同一个常数 $g$，

$$
m_t = (1 - \beta_1)\, g \sum_{i=1}^{t} \beta_1^{t-i} = \bigl(1 - \beta_1^t\bigr)\, g ,
$$

权重之和只有 $1 - \beta_1^t$ 而不是 1，因为初值 $m_0 = 0$ 把估计拉向了 0。除以 $1 - \beta_1^t$ 正好把它还原成 $g$。$\beta_1 = 0.9$、$t = 10$ 时 $1 - 0.9^{10} \approx 0.65$：**未修正的 $m$ 只有梯度的 65%**。
$v_t$ 的偏差更严重：$1 - 0.999^{10} \approx 0.01$。用 nnlib 的 `Adam` 对一个梯度恒为 $g = 2$ 的参数走 10 步，直接读它的状态：
"""),
    code(r"""
theta = Parameter(np.zeros(1))
adam = optim.Adam([theta], lr=0.01)                    # β₁ = 0.9, β₂ = 0.999, ε = 1e-8
g = 2.0
uncorrected = []                                       # 每步的 m/√v（不修正时的步长 / α）
for _ in range(10):
    theta.grad = np.array([g])                         # 梯度恒为 g
    adam.step()
    uncorrected.append(adam.state[theta]["exp_avg"][0] / np.sqrt(adam.state[theta]["exp_avg_sq"][0]))
state = adam.state[theta]
t = state["step"]
m, v = state["exp_avg"][0], state["exp_avg_sq"][0]
m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
print(f"t = {t}")
print(f"m / g      = {m / g:.4f}   （1 − 0.9^10   = {1 - 0.9**10:.4f}）")
print(f"v / g²     = {v / g**2:.4f}   （1 − 0.999^10 = {1 - 0.999**10:.4f}）")
print(f"m̂ / g      = {m_hat / g:.4f},  v̂ / g² = {v_hat / g**2:.4f}")
print(f"不修正的步长 m/√v：第 1 步 {uncorrected[0]:.2f} × α，第 10 步 {uncorrected[-1]:.2f} × α")
print(f"修正后的步长 m̂/√v̂ = {m_hat / np.sqrt(v_hat):.2f} × α")
""", tags=[CHECK]),
    md(r"""
两个修正不是可有可无的：若都不修正，第 10 步的步长是 $\alpha \cdot 0.65 g / \sqrt{0.01 g^2} \approx 6.5\alpha$，而第 1 步是 $\alpha \cdot 0.1 / \sqrt{0.001} \approx 3.2\alpha$——开头的步长被系统地放大了好几倍；
修正后恰好是 $\alpha$。这也说明了 Adam 步长的一个重要性质：**步长与梯度的大小无关**（梯度的尺度在 $\hat m_t / \sqrt{\hat v_t}$ 中约掉了）；梯度的符号和大小都比较稳定时，每个坐标每步大约移动 $\alpha$。

但 $\alpha$ 并不是步长的严格上限。Kingma 与 Ba {cite}`kingma2015adam` 分两种情形估计有效步长 $|\Delta_t| = \alpha\, |\hat m_t| / \sqrt{\hat v_t}$ 的上界：

- 若 $1 - \beta_1 \le \sqrt{1 - \beta_2}$，则 $|\Delta_t| \lesssim \alpha$；
- 若 $1 - \beta_1 > \sqrt{1 - \beta_2}$，则 $|\Delta_t| \lesssim \alpha\,(1 - \beta_1) / \sqrt{1 - \beta_2}$。最坏的情形是最稀疏的梯度：某个坐标的梯度此前一直为 0，只在当前一步不为 0。

默认的 $\beta_1 = 0.9$、$\beta_2 = 0.999$ 属于第二种情形（$0.1 > \sqrt{0.001} \approx 0.032$），上界是 $\alpha \cdot 0.1 / \sqrt{0.001} \approx 3.16\alpha$。更常见的情形下梯度有正有负、大小起伏，$|\hat m_t| / \sqrt{\hat v_t}$ 通常小于 1，步长也就小于 $\alpha$；
所以 $\alpha$ 可以理解为"每步移动距离的典型上限"，而不是保证。3.3.7 节会在一个真实的稀疏坐标上测量 Adam 最大的一步，并与这个上界比较。

nnlib 的 Adam 更新（`amsgrad` 是一个变体选项，默认关闭）：
"""),
    code(r"""
print(inspect.getsource(optim.Adam._update))
"""),
    md(r"""
代码里把两个修正因子折进了两个标量：`step_size` $= \alpha / (1 - \beta_1^t)$，`denominator` $= \sqrt{v_t} / \sqrt{1 - \beta_2^t} + \varepsilon = \sqrt{\hat v_t} + \varepsilon$，
所以 `step_size * m / denominator` 正是 $\alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$，只是少建了两个临时数组（PyTorch 也这样写）。$m_t$、$v_t$ 则原地更新（`m *= beta1` 等）。

`weight_decay` 参数在 `Adam` 中是把 $\lambda \theta$ 加进梯度（L2 正则化），它也会被 $\sqrt{\hat v_t}$ 缩放；**AdamW** {cite}`loshchilov2019decoupled` 改为在更新之外直接做 $\theta \leftarrow \theta (1 - \alpha\lambda)$（"解耦的权重衰减"），在 nnlib 和 PyTorch 中都叫 `AdamW`。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.6 widgets
cells += [
    md(r"""
## 3.3.6 优化器赛跑

`nnlib.widgets.OptimizerRace` 让六个优化器从同一个起点出发，在二维测试函数上各走若干步，把路径画在等高线上（★ 是最小值）。实线箭头是当前点的负梯度方向 $-\nabla f$，虚线箭头是"速度"（动量法的 $-v_t$、Adam 的 $-m_t$）。
每个优化器的学习率是针对每个函数单独选的（`nnlib.widgets.race.DEFAULT_LR`，对 SGD 类取能稳定的最大值），控件中的"学习率倍数"把它们同时放大或缩小。

先看 **Rosenbrock 函数** $f(x, y) = (1 - x)^2 + 100 (y - x^2)^2$：一条弯曲的窄谷，谷底很平，最小值在 $(1, 1)$。网页版的最终画面里，每个彩色圆点会沿自己的路径循环播放；
**在 Jupyter 或 Colab 中运行时，可以换函数、改步数、学习率倍数和动量，勾选参赛者，再按"开始比赛"看动画。**
"""),
    code(r"""
race = OptimizerRace("rosenbrock", steps=300)
display(race)
"""),
    md(r"""
再换到**鞍点** $f(x, y) = x^2 - y^2 + y^4/4$：原点是鞍点，两个最小值在 $(0, \pm\sqrt{2})$。起点 $(-2, 10^{-3})$ 几乎正对着鞍点，$y$ 方向的梯度极小：
"""),
    code(r"""
saddle_race = OptimizerRace("saddle", steps=100)
display(saddle_race)
saddle_race.steps.value = 300          # 与拖动"步数"滑块相同
saddle_race.run();                     # 与按"开始比赛"相同（只是不播放动画）；分号：不再显示一次返回值
"""),
    md(r"""
各优化器在四个测试函数上走 300 步后的函数值（与赛跑中显示的相同；Rosenbrock 与鞍点的最小值分别是 0 和 $-1$，Beale 与二次函数的最小值是 0）：
"""),
    code(r"""
from nnlib.widgets.race import DEFAULT_LR, RACERS

print(f"{'':<10}" + "".join(f"{name:>11}" for name in RACERS))
final_points = {}
for surface in ["quadratic", "rosenbrock", "beale", "saddle"]:
    row = []
    for name, make in RACERS.items():
        tr = trajectory(surface, lambda ps, make=make, lr=DEFAULT_LR[surface][name]: make(ps, lr, 0.9), 300)
        row.append("发散" if tr.diverged else f"{tr.values[-1]:.1e}")
        final_points[surface, name] = tr.points[-1]
    print(f"{surface:<10}" + "".join(f"{v:>12}" for v in row))
for surface, name in [("rosenbrock", "SGD"), ("rosenbrock", "AdaGrad"), ("saddle", "SGD")]:
    x, y = final_points[surface, name]
    print(f"{surface} 上 {name} 300 步后的位置: ({x:.3f}, {y:.3f})")
""", tags=[CHECK]),
    md(r"""
解读这张表需要注意：**没有一个优化器处处最好**。Rosenbrock 函数的起点是 $(-1.5, 2)$，在它的弯曲窄谷里，带动量的两种方法离最小值最近；SGD 和 AdaGrad 300 步后还在起点一侧的谷中（$x \approx -1.2$，最小值在 $x = 1$）。在 Beale 函数上反而是 RMSProp 最好、Adam 最差。
在鞍点上，SGD 300 步后仍在鞍点附近（$y \approx 0.37$，$f$ 仍约为 $-0.13$）：它在 $y$ 方向上的步长与极小的梯度成正比。动量法靠累积速度、自适应方法靠按梯度大小归一化步长，都沿 $y$ 方向到达了最小值附近。
二维函数上的结论只是直觉，不能直接搬到上百万维的网络上；3.3.8 节会在真实的网络上比较。

## 3.3.7 Adam 内部：一步一步看

`nnlib.widgets.AdamExplorer` 每走一步，就从优化器的状态中读出所选坐标的 $g_t$、$m_t$、$v_t$、$\hat m_t$、$\hat v_t$，两个偏差修正因子 $1/(1 - \beta_1^t)$、$1/(1 - \beta_2^t)$，
以及 Adam 实际走的步长 $\alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$ 与普通梯度下降的步长 $\alpha g_t$。滑块可以改 $\alpha$、$\beta_1$、$\beta_2$、$\varepsilon$，按钮可以"单步""运行 N 步""重置"。

先在病态二次函数上运行 60 步（$\alpha = 0.1$）：
"""),
    code(r"""
explorer = AdamExplorer("quadratic", lr=0.1)
display(explorer)
explorer.run(60);
"""),
    md(r"""
图中的数据都记录在 `explorer.history` 里（每个坐标一组列表），可以直接读出：
"""),
    code(r"""
h, hx = explorer.history, explorer.history["x"]
shown = (1, 5, 10, 15)
print("x 坐标，第 1、5、10、15 步：m/g =", " ".join(f"{hx['m'][t - 1] / hx['g'][t - 1]:.2f}" for t in shown),
      "；m̂/g =", " ".join(f"{hx['m_hat'][t - 1] / hx['g'][t - 1]:.2f}" for t in shown))
adam_x, sgd_x = np.abs(hx["adam_step"]), np.abs(hx["sgd_step"])
print(f"Adam 的步长 |Δx|：前 20 步在 {adam_x[:20].min():.3f} 与 {adam_x[:20].max():.3f} 之间，第 60 步为 {adam_x[-1]:.3f}")
print(f"梯度下降的步长 α|g|：第 1 步 {sgd_x[0]:.2g}，第 60 步 {sgd_x[-1]:.2g}")
print(f"第 60 步的修正因子：1/(1−β₁ᵗ) = {h['bias1'][-1]:.3f}，1/(1−β₂ᵗ) = {h['bias2'][-1]:.1f}")
""", tags=[CHECK]),
    md(r"""
第一张图中，虚线 $\hat m$ 从第一步起就与梯度 $g$ 同一量级，而未修正的 $m$ 起初只有梯度的十分之一，要十几步才接近梯度；第三张图的两个修正因子从 10 和 1000 开始下降，$1/(1-\beta_1^t)$ 几十步后就接近 1，$1/(1-\beta_2^t)$ 在第 60 步仍约为 17；
第四张图中（x 坐标），Adam 的步长在前 20 步都接近 $\alpha = 0.1$，快到最小值时才变小；梯度下降的步长 $\alpha |g|$ 则随梯度从 0.4 降到 0.0015，跨了两个多数量级。在坐标下拉框中把 x 换成 y，可以看到陡峭方向上的情形。

同一个探索器也可以看**真实网络**的参数：`ModelTarget` 在手写数字数据的小批量上训练一个多层感知机，追踪第一层的三个权重。
"""),
    code(r"""
digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target.astype(np.int64), test_size=0.25, random_state=0, stratify=digits.target)


def digits_mlp():
    nnlib.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).double()


target = ModelTarget(digits_mlp, nn.CrossEntropyLoss(), X_train, y_train, batch_size=64)
net_explorer = AdamExplorer(target, lr=3e-3)
display(net_explorer)
net_explorer.run(100);
"""),
    code(r"""
h = net_explorer.history
print("偏差修正因子 1/(1−β₁ᵗ) 与 1/(1−β₂ᵗ)：")
for t in (1, 10, 100):
    print(f"  t = {t:>3}:  {h['bias1'][t - 1]:8.3f}  {h['bias2'][t - 1]:9.3f}")
print("追踪的坐标:", [name for name, _, _ in target.coordinates])
""", tags=[CHECK]),
    md(r"""
默认显示的坐标 `0.weight[40,48]` 是第 1 层权重矩阵第 40 行、第 48 列（从 0 数）的元素，它连接第 48 个像素（8×8 图像第 7 行最左边的一格）与第 1 层的第 40 个单元（也从 0 数）。
第 100 步时 $1/(1-\beta_2^t)$ 仍约为 10.5：**没有偏差修正，前几百步的 $v_t$ 会严重偏小**。

第 48 个像素几乎总是空白（值为 0），所以这个权重的梯度在大多数步都恰好为 0，只在小批量恰好抽到那几张笔画经过此处的图像时出现一个尖峰。从探索器的记录中读出它的梯度和 Adam 的步长（以 $\alpha = 3 \times 10^{-3}$ 为单位），与 3.3.5 节的上界比较：
"""),
    code(r"""
name = "0.weight[40,48]"
group = net_explorer.optimizer.param_groups[0]          # 探索器所用 Adam 的超参数
alpha, (beta1, beta2) = group["lr"], group["betas"]      # 3e-3, (0.9, 0.999)
g_pixel = np.array(net_explorer.history[name]["g"])
adam_pixel = np.abs(np.array(net_explorer.history[name]["adam_step"])) / alpha
bound = (1 - beta1) / np.sqrt(1 - beta2)
print(f"训练集的 {len(X_train)} 张图像中，第 48 个像素不为 0 的只有 {np.count_nonzero(X_train[:, 48])} 张")
print(f"{name}：100 步中梯度恰为 0 的占 {np.mean(g_pixel == 0):.0%}；"
      f"这些步里梯度下降不动，Adam 步长的中位数是 {np.median(adam_pixel[g_pixel == 0]):.2f}α")
print(f"Adam 在这个坐标上最大的一步: {adam_pixel.max():.2f}α；上界 α(1−β₁)/√(1−β₂) = {bound:.2f}α")
""", tags=[CHECK]),
    md(r"""
普通梯度下降在这样的坐标上几乎不动（$\alpha g_t$ 多数时候为 0）；Adam 的 $\hat m_t$ 把每个尖峰分摊到之后的若干步，$\sqrt{\hat v_t}$ 记住了尖峰的大小并慢慢衰减，于是 Adam 在梯度为 0 的步里仍移动约 $\alpha/4$——这正是 AdaGrad 以来的自适应方法对**稀疏特征**的好处。在坐标下拉框中可以换看另外两个权重。

这个坐标正属于上界所说的稀疏情形，但它最大的一步只有 $0.78\alpha$，远没有达到 $3.16\alpha$。原因在偏差修正：上界描述的是训练了很久之后的情形；在前几百步，$\hat v_t$ 里的因子 $1/(1 - \beta_2^t)$ 还很大，把步长压低了（练习 3 推导其中的关系）。
下面构造最极端的情形：第 $t$ 个坐标的梯度只在第 $t$ 步为 1，此前一直为 0；共 3000 个坐标、3000 步，记录每个坐标在它唯一一次出现梯度的那一步移动的距离：
"""),
    code(r"""
T = 3000
theta = Parameter(np.zeros(T + 1))                     # 最后一个坐标留给下面的"持续增大的梯度"
adam = optim.Adam([theta], lr=1.0, betas=(beta1, beta2))   # α = 1：步长直接以 α 为单位
first_step = np.empty(T)
for t in range(1, T + 1):
    grad = np.zeros(T + 1)
    grad[t - 1] = 1.0                                  # 坐标 t − 1：梯度只在第 t 步出现
    if t > T - 200:
        grad[T] = (beta2 / beta1) ** (t - (T - 200))   # 最后 200 步：梯度每步乘以 β₂/β₁
    before = theta.data[[t - 1, T]]
    theta.grad = grad
    adam.step()
    first_step[t - 1], growing_step = np.abs(theta.data[[t - 1, T]] - before)

print("梯度只在第 t 步出现一次时，这一步的步长 / α：",
      "，".join(f"t = {t}: {first_step[t - 1]:.2f}" for t in (1, 10, 100, 1000, 3000)))
first = int(np.argmax(first_step > 1)) + 1
assert np.all(first_step[first - 1:] > 1)              # 超过之后不再回落
print(f"从第 {first} 步起超过 α，此后一直超过；上界 {bound:.2f}α")
print(f"梯度连续 200 步每步乘以 β₂/β₁ ≈ {beta2 / beta1:.3f}：最后一步的步长 {growing_step:.2f}α")
""", tags=[CHECK]),
    md(r"""
同样是只出现一次的梯度，出现在第 1 步时恰好移动 $\alpha$，第 10 步时只移动约 $\alpha/2$，从第 106 步起才超过 $\alpha$，到第 3000 步才接近上界 $3.16\alpha$。所以在训练的前一百步左右，即使是最稀疏的坐标，Adam 每步也不超过 $\alpha$；训练久了，稀疏坐标上偶尔出现的梯度可以让参数一步移动约 $3\alpha$。

最后一行说明，Kingma 与 Ba 的上界是估计，而不是严格的不等式：若梯度连续许多步按几何级数增大（例如训练正在发散），$|\hat m_t|$ 相对于 $\sqrt{\hat v_t}$ 会更大，步长可以达到 $7\alpha$ 左右。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.8 digits
cells += [
    md(r"""
## 3.3.8 在真实网络上比较：手写数字

数据是 scikit-learn 自带的 8×8 手写数字（1797 张，离线可用），按 3:1 分成训练集（1347 张）和测试集（450 张）。网络是 $64 \to 64 \to 32 \to 10$ 的 ReLU 多层感知机（float64），
每个优化器都从**同一组初始参数**出发，用同样顺序的小批量（大小 64，每轮 21 个）训练 15 轮（315 步）。

学习率对结果的影响往往比优化器的选择更大，所以公平的比较要给每个优化器挑它自己的学习率。下面的学习率是对每个优化器在 $\{10^{-3}, 3 \times 10^{-3}, 10^{-2}, \dots, 0.3, 1\}$ 中搜索、取最终训练损失最低者得到的
（把 `RUN_LR_SWEEP` 改为 `True` 可以自己重做这个搜索，约需半分钟）。注意自适应方法（RMSProp、Adam）的最佳学习率比 SGD 类小 10–30 倍：它们每步在每个坐标上移动的距离约为 $\alpha$，与梯度的大小无关，而 SGD 的步长还要乘上梯度的大小。
"""),
    code(r"""
OPTIMIZERS = {
    "SGD": lambda ps, lr: optim.SGD(ps, lr=lr),
    "动量": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9),
    "Nesterov": lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda ps, lr: optim.Adagrad(ps, lr=lr),
    "RMSProp": lambda ps, lr: optim.RMSprop(ps, lr=lr),
    "Adam": lambda ps, lr: optim.Adam(ps, lr=lr),
}
LEARNING_RATES = {"SGD": 0.3, "动量": 0.1, "Nesterov": 0.1, "AdaGrad": 0.1, "RMSProp": 0.01, "Adam": 0.01}
RUN_LR_SWEEP = False      # True：重新搜索每个优化器的学习率


def train(make_optimizer, lr, epochs=15, batch_size=64, scheduler=None):
    model = digits_mlp()                                   # 同样的初始参数
    optimizer = make_optimizer(list(model.parameters()), lr)
    sched = scheduler(optimizer) if scheduler else None
    criterion = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)                         # 同样顺序的小批量
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order) - batch_size + 1, batch_size):   # 丢掉不满一批的余数
            idx = order[start:start + batch_size]
            loss = criterion(model(X_train[idx]), y_train[idx])
            optimizer.zero_grad()
            model.backward(criterion.backward())
            optimizer.step()
            losses.append(float(loss))
        if sched:
            sched.step()                                   # 每轮结束更新一次学习率
    train_loss = float(criterion(model(X_train), y_train))
    test_acc = float((model(X_test).argmax(axis=1) == y_test).mean())
    return losses, train_loss, test_acc


if RUN_LR_SWEEP:
    grid = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
    for name, make in OPTIMIZERS.items():
        with np.errstate(over="ignore", invalid="ignore"):          # 过大的学习率可能发散：不打印警告
            finals = {lr: train(make, lr)[1] for lr in grid}
        LEARNING_RATES[name] = min(finals, key=lambda lr: finals[lr] if np.isfinite(finals[lr]) else np.inf)
        print(name, {lr: round(v, 3) for lr, v in finals.items()})

results = {name: train(make, LEARNING_RATES[name]) for name, make in OPTIMIZERS.items()}
print(f"{'优化器':<10} {'学习率':>8} {'训练损失':>8} {'测试准确率':>8}")
for name, (losses, train_loss, test_acc) in results.items():
    print(f"{name:<10} {LEARNING_RATES[name]:>10g} {train_loss:>11.3f} {test_acc:>12.1%}")
print(f"训练集 {len(y_train)} 张、测试集 {len(y_test)} 张；每轮 {len(y_train) // 64} 个小批量，15 轮共 {len(results['SGD'][0])} 步")

smoothed = {name: np.convolve(losses, np.ones(21) / 21, mode="valid")   # 以一轮（21 步）为窗口的滑动平均
            for name, (losses, _, _) in results.items()}
print("SGD 的小批量损失（滑动平均）在每一步都高于其他五种方法:",
      all(np.all(smoothed["SGD"] > curve) for name, curve in smoothed.items() if name != "SGD"))
""", tags=[CHECK]),
    code(r"""
fig, ax = plt.subplots(figsize=(8, 4.5))
for i, (name, (losses, _, acc)) in enumerate(results.items()):
    ax.plot(np.arange(len(smoothed[name])) + 21, smoothed[name], lw=1.8, color=f"C{i}",
            ls="--" if name in ("Nesterov", "RMSProp") else "-", label=f"{name}（α={LEARNING_RATES[name]:g}，测试 {acc:.1%}）")
ax.set_yscale("log")
ax.set_xlabel("训练步数")
ax.set_ylabel("小批量损失（每轮滑动平均，对数坐标）")
ax.set_title("手写数字 MLP：六种优化器的训练损失")
ax.legend(fontsize=9)
plt.show()
"""),
    md(r"""
在各自调好的学习率下，六种方法都能把这个小网络训练到 96%–97% 的测试准确率。损失曲线上 SGD 始终在最上面（训练结果的最后一行验证了这一点），带动量的方法和自适应方法在前 100 步下降得快得多。测试准确率的差别不到 1 个百分点——只有 450 张测试图像时，1 个百分点约是 4–5 张图，
换一个随机种子名次就可能改变，这样的差别不足以说明谁更好。实践中常见的经验（不是这个小实验能证明的）是：

- **Adam** 对学习率和各层梯度尺度的差别较不敏感，$\alpha$ 在 $10^{-3}$ 附近往往就能工作，是尝试新模型时合适的起点；
- **SGD + 动量** 需要仔细调学习率（常配合 3.3.9 节的学习率调度），在许多视觉任务上调好后泛化得很好；
- **AdaGrad** 适合稀疏特征，但在长时间训练中步长会衰减到几乎为 0。
"""),
]

# ---------------------------------------------------------------------------------------- 3.3.9 schedules, clipping
cells += [
    md(r"""
## 3.3.9 学习率调度与梯度裁剪

**学习率调度。** 训练初期用较大的学习率、接近收敛时用较小的学习率，通常比固定学习率更好。nnlib 提供与 PyTorch 同名的调度器，每轮结束调用一次 `scheduler.step()`，它改写优化器的 `param_groups[i]["lr"]`：

- `StepLR(optimizer, step_size, gamma)`：每 $s$ 轮（$s$ = `step_size`）把学习率乘以 $\gamma$，即 $\alpha_e = \alpha_0 \gamma^{\lfloor e / s \rfloor}$（$e$ 是轮数，从 0 开始）；
- `CosineAnnealingLR(optimizer, T_max, eta_min=0)`：沿半个余弦从 $\alpha_0$ 降到 $\eta_{\min}$，$\alpha_e = \eta_{\min} + (\alpha_0 - \eta_{\min}) \frac{1 + \cos(\pi e / T_{\max})}{2}$ {cite}`loshchilov2017sgdr`。
"""),
    code(r"""
def schedule(make_scheduler, epochs=15, lr=0.1):
    opt = optim.SGD([Parameter(np.zeros(1))], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    return rates


step_rates = schedule(lambda o: optim.StepLR(o, step_size=5, gamma=0.3))
cos_rates = schedule(lambda o: optim.CosineAnnealingLR(o, T_max=15))
print("StepLR(step_size=5, gamma=0.3): ", " ".join(f"{r:.3f}" for r in step_rates))
print("CosineAnnealingLR(T_max=15):     ", " ".join(f"{r:.3f}" for r in cos_rates))
""", tags=[CHECK]),
    code(r"""
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.step(range(15), step_rates, where="post", label="StepLR（每 5 轮 ×0.3）")
ax.plot(range(15), cos_rates, "o-", ms=3, label="CosineAnnealingLR（T_max = 15）")
ax.set_xlabel("轮数 e")
ax.set_ylabel("学习率")
ax.set_title("两种学习率调度（初始学习率 0.1）")
ax.legend()
plt.show()
"""),
    md(r"""
把余弦调度用在 3.3.8 节的 SGD + 动量上，分别以搜索得到的学习率 0.1 和一个偏大的学习率 0.3 开始，与固定学习率比较（学习率 0.1、固定学习率的一次就是 3.3.8 节那次训练）：
"""),
    code(r"""
cosine = lambda o: optim.CosineAnnealingLR(o, T_max=15)
runs = {(0.1, "固定学习率"): results["动量"]}
for lr, label in [(0.1, "余弦调度"), (0.3, "固定学习率"), (0.3, "余弦调度")]:
    runs[lr, label] = train(OPTIMIZERS["动量"], lr, scheduler=cosine if label == "余弦调度" else None)
for (lr, label), (losses, final_loss, acc) in runs.items():
    if (lr, label) != (0.3, "固定学习率"):
        print(f"动量，初始学习率 {lr}，{label}：训练损失 {final_loss:.3f}，测试准确率 {acc:.1%}")
unstable, settled = runs[0.3, "固定学习率"][0][-21:], runs[0.3, "余弦调度"][0][-21:]   # 最后一轮的 21 个小批量
print("初始学习率 0.3，最后一轮的小批量损失：")
print(f"  固定学习率的平均值是余弦调度的 {'2 倍以上' if np.mean(unstable) > 2 * np.mean(settled) else '不到 2 倍'}；"
      f"最大值：固定学习率 {'> 0.1' if max(unstable) > 0.1 else '≤ 0.1'}，余弦调度 {'< 0.1' if max(settled) < 0.1 else '≥ 0.1'}")
""", tags=[CHECK]),
    code(r"""
_, final_loss, acc = runs[0.3, "固定学习率"]
print(f"动量，初始学习率 0.3，固定学习率：训练损失 {final_loss:.3f}，测试准确率 {acc:.1%}（具体数字与机器有关）")
"""),
    md(r"""
结果并不是"加上调度就更好"：初始学习率为 0.1 时，余弦调度从第一轮起就在减小步长，15 轮内参数移动得不够远，训练损失反而比固定学习率高；
初始学习率为 0.3 时，固定学习率的训练已经不稳定：到最后一轮，小批量损失仍在大幅跳动，平均是余弦调度的 2 倍以上；余弦调度则让后期的步长变小，仍然收敛到很低的训练损失。调度的主要作用是**允许开头用更大的学习率，而在结尾稳定下来**。

不稳定的训练还有一个后果：它对舍入误差这样微小的差别也很敏感，15 轮后的损失和准确率在不同的 CPU、不同的线程数下可能明显不同，所以上面只比较了最后一轮损失的大致水平，它的最终损失和准确率单独打印在上一格。学习率合适的训练对这样微小的差别不敏感，本节其余的数字在每台机器上都相同。
"""),
    md(r"""
**梯度裁剪。** 3.2.6 节看到，梯度过大时参数一步就被推得很远，损失在几步之内溢出；循环神经网络（4.2 节）尤其容易出现这种"梯度爆炸"。`clip_grad_norm_(parameters, max_norm)` 把**所有参数的梯度看作一个长向量** $g$，
若 $\|g\|_2 > c$（$c$ = `max_norm`）就整体缩放 $g \leftarrow g \cdot c / \|g\|_2$：方向不变，长度被截到 $c$ {cite}`pascanu2013difficulty`。它在 `backward` 之后、`optimizer.step()` 之前调用，返回裁剪前的范数。
下面用 3.2.6 节那个"忘了缩放输入"的回归网络（同样的结构 64 → 32 → 32 → 1、同样的初始权重和数据；这里用 float64 计算），先看一步的梯度：
"""),
    code(r"""
X_raw, y_reg = digits.data[:256], digits.target[:256, None].astype(np.float64)    # 像素 0–16，未缩放


def regression_net():                                  # 3.2.6 节的网络
    nnlib.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)).double()


def global_norm(params):
    return float(np.sqrt(sum(np.sum(p.grad**2) for p in params)))


net, criterion = regression_net(), nn.MSELoss()
criterion(net(X_raw), y_reg)
net.backward(criterion.backward())
before = optim.clip_grad_norm_(net.parameters(), max_norm=1.0)
print(f"裁剪前的梯度范数（clip_grad_norm_ 的返回值）: {float(before):.1f}")
print(f"裁剪后的梯度范数: {global_norm(net.parameters()):.3f}")
""", tags=[CHECK]),
    md(r"""
再重做 3.2.6 节那次发散的训练（学习率 0.3，100 步全批量梯度下降），一次不裁剪，一次在每步更新前把梯度裁剪到 1：
"""),
    code(r"""
def regression_run(lr, max_norm=None, steps=100):
    net = regression_net()
    opt = optim.SGD(net.parameters(), lr=lr)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # 不裁剪时会溢出：不打印警告
        for _ in range(steps):
            loss = criterion(net(X_raw), y_reg)
            opt.zero_grad()
            net.backward(criterion.backward())
            if max_norm is not None:
                optim.clip_grad_norm_(net.parameters(), max_norm)
            opt.step()
            losses.append(float(loss))
    return losses


plain, clipped = regression_run(0.3), regression_run(0.3, max_norm=1.0)
diverged = not np.isfinite(plain[-1]) or plain[-1] > 1e6
print(f"不裁剪：损失从 {plain[0]:.1f} 出发，100 步内{'发散（超过 10⁶）' if diverged else '没有发散'}")
calm = np.all(np.isfinite(clipped)) and np.mean(clipped[-10:]) < 2
print(f"每步裁剪到 1：损失从 {clipped[0]:.1f} 出发，{'没有发散，最后 10 步的平均损失低于 2' if calm else '没有降到 2 以下'}")
""", tags=[CHECK]),
    md(r"""
裁剪不改变梯度的方向，只限制每一步的长度（参数每步至多移动学习率 × 裁剪后的范数 $= 0.3 \times 1$），于是同样的学习率不再发散。步长被截住以后，损失在最后几步仍在小范围内上下波动（具体数值与机器有关），所以上面只报告最后 10 步平均损失的水平。但裁剪是一种保护措施，而不是修复：上例的根本问题是输入没有缩放（3.2.6 节的修复是把像素缩放到 0–1，并减小学习率）。
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

| 方法 | 更新（$g_t$ 为梯度，运算逐元素） | 状态（nnlib/PyTorch 键名） | 解决了什么 |
|---|---|---|---|
| SGD | $\theta_t = \theta_{t-1} - \alpha g_t$ | 无 | 用小批量估计梯度，代价与数据量无关 |
| 动量 | $v_t = \mu v_{t-1} + g_t$，$\theta_t = \theta_{t-1} - \alpha v_t$ | `momentum_buffer` | 病态曲面上的振荡与缓慢 |
| Nesterov | $\theta_t = \theta_{t-1} - \alpha (g_t + \mu v_t)$ | `momentum_buffer` | 更早减速，减少过冲 |
| AdaGrad | $s_t = s_{t-1} + g_t^2$，$\theta_t = \theta_{t-1} - \alpha g_t / (\sqrt{s_t} + \varepsilon)$ | `sum` | 各坐标自己的步长（稀疏特征） |
| RMSProp | $r_t = \rho r_{t-1} + (1-\rho) g_t^2$，$\theta_t = \theta_{t-1} - \alpha g_t / (\sqrt{r_t} + \varepsilon)$ | `square_avg` | AdaGrad 的步长无限衰减 |
| Adam | $m_t, v_t$ 滑动平均，$\hat m_t = m_t / (1 - \beta_1^t)$，$\hat v_t = v_t / (1 - \beta_2^t)$，$\theta_t = \theta_{t-1} - \alpha \hat m_t / (\sqrt{\hat v_t} + \varepsilon)$ | `exp_avg`, `exp_avg_sq`, `step` | 动量 + 自适应步长 + 开头的偏差 |

- 偏差修正的原因：$m_0 = v_0 = 0$，梯度恒定时 $m_t = (1 - \beta_1^t) g$；$t = 10$ 时只有 65%。
- Adam 的步长与梯度的大小无关，通常不超过 $\alpha$，但 $\alpha$ 不是严格上限：默认 $\beta$ 下，长期为 0 后突然出现的梯度可以让一步接近 $\alpha (1 - \beta_1) / \sqrt{1 - \beta_2} \approx 3.16\alpha$。
- 没有处处最好的优化器；学习率往往比优化器的选择更重要。Adam 是好的起点，SGD + 动量 + 学习率调度调好后往往同样好。
- 学习率调度让后期的步长变小；学习率过大时训练不稳定，结果连舍入误差都会改变。梯度裁剪限制单步的长度，防止一次过大的梯度破坏训练。

## 练习
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "手写动量法",
    r"""
实现 `momentum_path(grads, lr, mu)`：参数是一个标量，初值 $\theta_0 = 0$，第 $t$ 步的梯度是 `grads[t-1]`（事先给定的一串数），
按 3.3.2 节的公式（$v_0 = 0$）返回每步之后的 $\theta_1, \dots, \theta_T$（列表或数组）。自检会与 `optim.SGD(..., momentum=mu)` 比较。
""",
    r"""
def momentum_path(grads, lr, mu):
    raise NotImplementedError
""",
    r"""
def test_momentum_path():
    grads = [1.0, -2.0, 0.5, 3.0, 3.0, -1.0, 0.0, 2.0]
    theta = Parameter(np.zeros(1))
    opt = optim.SGD([theta], lr=0.1, momentum=0.8)
    truth = []
    for gr in grads:
        theta.grad = np.array([gr])
        opt.step()
        truth.append(float(theta.data[0]))
    got = np.asarray(momentum_path(grads, 0.1, 0.8), dtype=float).ravel()
    if got.shape != (len(grads),):
        return False, f"应返回 {len(grads)} 个数（每步之后的 θ），你的形状是 {got.shape}。"
    return np.allclose(got, truth, atol=1e-12), "与 optim.SGD 不一致。先更新 v = μv + g，再更新 θ = θ − αv。"


check_answer("练习 1", test_momentum_path)
""",
    r"""
def momentum_path(grads, lr, mu):
    theta, v, path = 0.0, 0.0, []
    for g in grads:
        v = mu * v + g              # v_t = μ v_{t-1} + g_t
        theta = theta - lr * v      # θ_t = θ_{t-1} − α v_t
        path.append(theta)
    return path
""",
    r"""
因为 $v_0 = 0$，第一步 $v_1 = g_1$，与 nnlib（和 PyTorch）"第一步直接把梯度作为速度"的写法一致。
""",
)

cells += ex.add(
    "从零实现 Adam",
    r"""
实现 `adam_path(grad_fn, theta0, lr, betas, eps, steps)`：从 `theta0`（NumPy 数组）出发，每步用 `grad_fn(theta)` 求梯度，按 3.3.5 节的公式走 `steps` 步，返回形状为 `(steps + 1, len(theta0))` 的数组（第 0 行是起点）。
自检会在病态二次函数上与 `nnlib.surfaces.trajectory(..., optim.Adam)` 比较。
""",
    r"""
def adam_path(grad_fn, theta0, lr, betas, eps, steps):
    raise NotImplementedError
""",
    r"""
def test_adam_path():
    surf = get_surface("quadratic")
    truth = trajectory(surf, lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6), 40).points
    got = np.asarray(adam_path(surf.gradient, np.array(surf.start), 0.05, (0.8, 0.99), 1e-6, 40))
    if got.shape != truth.shape:
        return False, f"形状应为 {truth.shape}，你的是 {got.shape}。第 0 行是起点。"
    return np.allclose(got, truth, atol=1e-10), "路径与 nnlib 的 Adam 不一致。t 从 1 开始；ε 加在 √v̂ 之后。"


check_answer("练习 2", test_adam_path)
""",
    r"""
def adam_path(grad_fn, theta0, lr, betas, eps, steps):
    beta1, beta2 = betas
    theta = np.array(theta0, dtype=float)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad_fn(theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(theta.copy())
    return np.array(path)
""",
    r"""
最容易错的两处：$t$ 必须从 1 开始（否则 $1 - \beta^0 = 0$）；$\varepsilon$ 加在 $\sqrt{\hat v_t}$ 之外，而不是 $\sqrt{\hat v_t + \varepsilon}$。
""",
)

cells += ex.add(
    "最稀疏的梯度能走多远",
    r"""
3.3.5 节说，默认的 $\beta$ 下 Adam 的一步最多可达约 $\alpha (1 - \beta_1) / \sqrt{1 - \beta_2} \approx 3.16\alpha$；3.3.7 节却测得，在前 100 步里，即使是只出现一次的梯度，一步也不超过 $\alpha$。推导其中的原因：
设某个坐标的梯度在第 $1, \dots, t-1$ 步都是 0，第 $t$ 步是 $g \ne 0$。写出 Adam 第 $t$ 步在这个坐标上移动的距离 $|\theta_t - \theta_{t-1}|$（忽略 $\varepsilon$），实现 `spike_step(t, lr, beta1, beta2)`。
它与 $g$ 有关吗？$t = 1$ 和 $t \to \infty$ 时各是多少？自检会与 `optim.Adam` 在三组 $(\beta_1, \beta_2)$ 下的实际步长比较。
""",
    r"""
def spike_step(t, lr, beta1, beta2):
    raise NotImplementedError
""",
    r"""
def test_spike_step():
    spike_step(1, 0.01, 0.9, 0.999)                    # 还没作答时立即停下
    spikes = [1, 2, 7, 60, 400]                        # 第 k 个坐标只在第 spikes[k] 步有梯度
    for betas in [(0.9, 0.999), (0.5, 0.99), (0.99, 0.999)]:
        theta = Parameter(np.zeros(len(spikes)))
        opt = optim.Adam([theta], lr=0.01, betas=betas, eps=1e-12)
        truth = {}
        for t in range(1, spikes[-1] + 1):
            before = theta.data.copy()
            theta.grad = np.array([-3.0 if t == s else 0.0 for s in spikes])
            opt.step()
            for k, s in enumerate(spikes):
                if s == t:
                    truth[s] = abs(float(theta.data[k] - before[k]))
        for s in spikes:
            got = spike_step(s, 0.01, *betas)
            if not np.isclose(got, truth[s], rtol=1e-6):
                return False, (f"betas = {betas}，t = {s}：nnlib 的 Adam 走了 {truth[s]:.6g}，你的是 {got}。"
                               "第 t 步时 m_t = (1 − β₁)g，v_t = (1 − β₂)g²；别忘了偏差修正。")
    return True, ""


check_answer("练习 3", test_spike_step)
""",
    r"""
def spike_step(t, lr, beta1, beta2):
    m_hat = (1 - beta1) / (1 - beta1**t)      # m_t = (1 − β₁) g, bias-corrected, divided by g
    v_hat = (1 - beta2) / (1 - beta2**t)      # v_t = (1 − β₂) g², bias-corrected, divided by g²
    return lr * m_hat / np.sqrt(v_hat)        # g cancels
""",
    r"""
$m_{t-1} = v_{t-1} = 0$，所以 $m_t = (1 - \beta_1) g$，$v_t = (1 - \beta_2) g^2$，

$$
|\theta_t - \theta_{t-1}| = \alpha\, \frac{1 - \beta_1}{\sqrt{1 - \beta_2}} \cdot \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} ,
$$

与 $g$ 无关。$t = 1$ 时两个因子相消，恰好是 $\alpha$；$t \to \infty$ 时第二个因子趋于 1，步长趋于 Kingma 与 Ba 的上界 $\alpha (1 - \beta_1) / \sqrt{1 - \beta_2}$。
第二个因子里，$1 - \beta_1^t$ 几十步就接近 1，而 $\beta_2 = 0.999$ 时 $\sqrt{1 - \beta_2^t}$ 要几千步才接近 1：所以在前 100 步，它把 $3.16\alpha$ 压到了 $\alpha$ 以下（3.3.7 节测得 $t = 100$ 时为 $0.98\alpha$），要训练很久，上界才会被接近。
""",
)

cells += ex.add(
    "从零实现全局梯度裁剪",
    r"""
实现 `clip_global_norm(grads, max_norm)`：`grads` 是一个列表，装着各参数的梯度（形状各不相同的 NumPy 数组）。把它们看作一个长向量 $g$，返回 `(clipped, norm)`：
`norm` 是裁剪前的 $\|g\|_2$；`clipped` 是新数组组成的列表——$\|g\|_2 >$ `max_norm` 时每个数组都乘以 `max_norm` $/ \|g\|_2$，否则保持不变。不要修改传入的数组。
自检会与 `optim.clip_grad_norm_` 比较（它在分母上多加了 $10^{-6}$，影响可以忽略）。再想一想：如果改为把每个参数的梯度分别裁剪到 `max_norm`，参数整体的更新方向会怎样变化？
""",
    r"""
def clip_global_norm(grads, max_norm):
    raise NotImplementedError
""",
    r"""
def test_clip_global_norm():
    rng = np.random.default_rng(3)
    for scale in (10.0, 0.01):                         # 一次需要裁剪，一次不需要
        grads = [scale * rng.standard_normal(shape) for shape in [(4, 3), (3,), (2, 2, 2)]]
        originals = [g.copy() for g in grads]
        params = [Parameter(np.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.copy()
        truth = float(optim.clip_grad_norm_(params, max_norm=1.0))
        clipped, norm = clip_global_norm(grads, 1.0)
        if not all(np.array_equal(g, o) for g, o in zip(grads, originals)):
            return False, "传入的数组被修改了：返回新数组（例如 g * coef），不要原地相乘。"
        if not np.isclose(float(norm), truth, rtol=1e-12):
            return False, f"裁剪前的范数应为 {truth:.6g}，你的是 {norm}。把所有数组的所有元素平方后加在一起，再开方。"
        same = len(clipped) == len(params) and all(
            np.shape(c) == p.grad.shape and np.allclose(c, p.grad, rtol=1e-5, atol=0) for c, p in zip(clipped, params))
        if not same:
            return False, "裁剪后的梯度与 optim.clip_grad_norm_ 不一致：所有数组乘以同一个系数 max_norm / ‖g‖₂，且只在 ‖g‖₂ > max_norm 时缩放。"
    return True, ""


check_answer("练习 4", test_clip_global_norm)
""",
    r"""
def clip_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))   # ‖g‖₂ over all parameters together
    coef = max_norm / norm if norm > max_norm else 1.0
    return [g * coef for g in grads], norm
""",
    r"""
所有参数的梯度乘以同一个系数，$g$ 的方向不变，只有长度被截到 `max_norm`。若对每个参数分别裁剪，梯度大的参数被压得多、梯度小的参数不受影响，各部分之间的比例就变了，
更新不再沿着 $-g$ 的方向——这正是 `clip_grad_norm_` 把所有参数放在一起计算范数的原因。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch03_3_optimizers", cells)
